"""Disputes over HTTP: the holder disputes, an admin resolves, admins, auditors and holders list."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.security.jwt import Token

from skill_ledger.accounts import User
from skill_ledger.api.auth import actor_of
from skill_ledger.api.errors import POSITION_HEADER
from skill_ledger.api.guards import allow
from skill_ledger.api.openapi import (
    CARRIES_POSITION,
    COMMON,
    AssessmentId,
    ClosedJSONBody,
    problems,
)
from skill_ledger.api.schemas import (
    AssessmentOut,
    CommandResponse,
    DisputeRequest,
    DisputesOut,
    ResolveRequest,
    ResolveResponse,
)
from skill_ledger.assessments import Assessments
from skill_ledger.domain import Action, DisputeOutcome

MAX_DISPUTES_LIMIT = 1000


@post(
    "/api/v1/assessments/{assessment_id:uuid}/dispute",
    guards=[allow(Action.DISPUTE)],
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=["disputes"],
    summary="Dispute a validated assessment (the license's holder, within the window)",
    responses=problems(
        400,
        *COMMON,
        404,
        409,
        413,
        415,
        described={409: "Not VALIDATED, already disputed, or the window is over"},
    ),
)
def dispute(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    assessment_id: AssessmentId,
    data: ClosedJSONBody[DisputeRequest],
) -> Response[CommandResponse]:
    """VALIDATED → DISPUTED."""
    answer = assessments.dispute(actor_of(request), assessment_id, data.reason)
    body = CommandResponse(success=True, assessment=AssessmentOut.of(answer.assessment))
    return Response(body, headers={POSITION_HEADER: str(answer.position)})


@post(
    "/api/v1/assessments/{assessment_id:uuid}/resolve",
    guards=[allow(Action.RESOLVE)],
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=["disputes"],
    summary="Resolve a dispute: approve, reject or modify (an admin other than the assessor "
    "and the validator)",
    responses=problems(
        400,
        *COMMON,
        404,
        409,
        413,
        415,
        described={409: "Not disputed, resolved otherwise, or modify with identical points"},
    ),
)
def resolve(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    assessment_id: AssessmentId,
    data: ClosedJSONBody[ResolveRequest],
) -> Response[ResolveResponse]:
    """DISPUTED → ASSESSED (approve), VALIDATED (reject) or ARCHIVED with a new one (modify);
    the same resolution again records nothing."""
    resolution = assessments.resolve(
        actor_of(request),
        assessment_id,
        DisputeOutcome(data.outcome),
        data.note,
        data.points_earned,
        data.points_total,
    )
    replacement = resolution.replacement
    body = ResolveResponse(
        success=True,
        assessment=AssessmentOut.of(resolution.answer.assessment),
        replacement=AssessmentOut.of(replacement) if replacement is not None else None,
    )
    return Response(body, headers={POSITION_HEADER: str(resolution.answer.position)})


@get(
    "/api/v1/disputes",
    guards=[allow(Action.READ_DISPUTES)],
    sync_to_thread=True,
    tags=["disputes"],
    summary="Disputed assessments, oldest dispute first (students: their own)",
    responses=problems(400, *COMMON),
)
def list_disputes(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    status: Annotated[
        Literal["open", "resolved"] | None,
        Parameter(description="open or resolved (default: both)"),
    ] = None,
    after: Annotated[
        UUID | None, Parameter(description="The last assessment id of the previous page")
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_DISPUTES_LIMIT)] = 100,
) -> DisputesOut:
    """A page of disputes after `after`."""
    rows = assessments.disputes(actor_of(request), status, after, limit)
    next_after = str(rows[-1].id) if len(rows) == limit else None
    return DisputesOut(disputes=[AssessmentOut.of(row) for row in rows], next_after=next_after)


DISPUTE_ROUTES = [dispute, resolve, list_disputes]

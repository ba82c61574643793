"""Assessment commands and reads over HTTP: parse, call the use case, shape the answer."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
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
    LedgerPosition,
    LicenseId,
    Skill,
    problems,
)
from skill_ledger.api.schemas import (
    ArchiveRequest,
    AssessmentOut,
    AssessRequest,
    AssessResponse,
    CommandResponse,
)
from skill_ledger.application import AssessItem
from skill_ledger.assessments import Answer, Assessments
from skill_ledger.domain import Action

IDENTICAL = "Identical assessment already exists"
POSITION = {CARRIES_POSITION: True}


@post(
    "/api/v1/licenses/{license_id:int}/skills/{skill:str}/assess",
    guards=[allow(Action.ASSESS)],
    status_code=201,
    opt=POSITION,
    tags=["assessments"],
    summary="Assess a skill: 201 created, or 200 when the points are identical",
    responses={
        200: ResponseSpec(AssessResponse, description="Identical assessment already exists"),
        **problems(400, *COMMON, 404, 409, 413, 415),
    },
)
async def assess(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    license_id: LicenseId,
    skill: Skill,
    data: ClosedJSONBody[AssessRequest],
) -> Response[AssessResponse]:
    """Create or replace the active assessment of a skill on a license."""
    item = AssessItem(license_id, skill, data.points_earned, data.points_total, data.notes or "")
    step = await anyio.to_thread.run_sync(assessments.assess_step, actor_of(request), item)
    answer = await assessments.answered(step)
    created = answer.result.created
    body = AssessResponse(
        success=True,
        created=created,
        assessment=AssessmentOut.of(answer.assessment),
        message=None if created else IDENTICAL,
    )
    return Response(
        body,
        status_code=201 if created else 200,
        headers={POSITION_HEADER: str(answer.position)},
    )


@get(
    "/api/v1/licenses/{license_id:int}/skills/{skill:str}/assessments",
    guards=[allow(Action.READ)],
    sync_to_thread=True,
    tags=["assessments"],
    summary="Every assessment of a skill on a license, newest first",
    responses=problems(400, *COMMON, 404),
)
def history(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    license_id: LicenseId,
    skill: Skill,
    position: LedgerPosition = 0,
) -> list[AssessmentOut]:
    """All statuses, newest first."""
    rows = assessments.history(actor_of(request), license_id, skill, token=position)
    return [AssessmentOut.of(row) for row in rows]


@get(
    "/api/v1/assessments/{assessment_id:uuid}",
    guards=[allow(Action.READ)],
    sync_to_thread=True,
    tags=["assessments"],
    summary="One assessment",
    responses=problems(400, *COMMON, 404),
)
def get_assessment(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    assessment_id: AssessmentId,
    position: LedgerPosition = 0,
) -> AssessmentOut:
    """The assessment as the read table holds it."""
    return AssessmentOut.of(assessments.get(actor_of(request), assessment_id, token=position))


@post(
    "/api/v1/assessments/{assessment_id:uuid}/validate",
    guards=[allow(Action.VALIDATE)],
    status_code=200,
    opt=POSITION,
    tags=["assessments"],
    summary="Validate an assessment (admins; never the assessor)",
    responses=problems(*COMMON, 404, 409),
)
async def validate(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    assessment_id: AssessmentId,
) -> Response[CommandResponse]:
    """ASSESSED → VALIDATED; again on a VALIDATED one records nothing."""
    actor = actor_of(request)
    step = await anyio.to_thread.run_sync(assessments.validate_step, actor, assessment_id)
    return _command(await assessments.answered(step))


@post(
    "/api/v1/assessments/{assessment_id:uuid}/archive",
    guards=[allow(Action.ARCHIVE)],
    status_code=200,
    opt=POSITION,
    tags=["assessments"],
    summary="Archive an assessment with a reason (admins, or the assessing instructor)",
    responses=problems(400, *COMMON, 404, 409, 413, 415),
)
async def archive(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    assessment_id: AssessmentId,
    data: ClosedJSONBody[ArchiveRequest],
) -> Response[CommandResponse]:
    """→ ARCHIVED; again on an ARCHIVED one records nothing."""
    step = await anyio.to_thread.run_sync(
        partial(assessments.archive_step, actor_of(request), assessment_id, data.reason)
    )
    return _command(await assessments.answered(step))


def _command(answer: Answer) -> Response[CommandResponse]:
    """A validate or archive answer, with its consistency token."""
    body = CommandResponse(success=True, assessment=AssessmentOut.of(answer.assessment))
    return Response(body, headers={POSITION_HEADER: str(answer.position)})


ASSESSMENT_ROUTES = [assess, history, get_assessment, validate, archive]

"""Admin dispute review: the assessment, the student's reason, the pair's history; a decision."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from skill_ledger.assessments import Assessments
from skill_ledger.domain import (
    Action,
    Actor,
    DisputeOutcome,
    InvalidAssessment,
    LedgerError,
    NotPermitted,
    SelfValidationForbidden,
    check_role,
)
from skill_ledger.web.forms import FormError, form_of, whole_number
from skill_ledger.web.render import page, read_token, see_other
from skill_ledger.web.session import Sessions

OPEN_LIMIT = 100
DECISIONS = (DisputeOutcome.APPROVE, DisputeOutcome.REJECT, DisputeOutcome.MODIFY)


def _review_page(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    assessments: Assessments,
    *,
    status: int = 200,
    **context: Any,
) -> Response[Any]:
    user = sessions.user(request)
    actor = Actor(user.id, user.role)
    check_role(actor.role, Action.RESOLVE)
    disputed = assessments.disputes(actor, "open", None, OPEN_LIMIT)
    histories = {
        row.id: assessments.history(
            actor, row.user_license_id, row.skill_name, token=read_token(request)
        )
        for row in disputed
    }
    return page(
        request,
        sessions,
        "disputes.html",
        user,
        status=status,
        disputed=disputed,
        histories=histories,
        decisions=[d.value for d in DECISIONS],
        resolved=request.query_params.get("resolved"),
        **context,
    )


@get("/ui/disputes", sync_to_thread=True)
def review(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
) -> Response[Any]:
    """Open disputes, oldest first, each with its pair's history and the three decisions."""
    return _review_page(request, sessions, assessments)


@post("/ui/disputes/{assessment_id:uuid}/resolve", sync_to_thread=True, status_code=303)
def resolve(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
    assessment_id: UUID,
) -> Response[Any]:
    """Approve, reject with a note, or modify with new points (the domain's rules decide)."""
    user = sessions.user(request)
    values = form_of(request)
    prefix = f"{assessment_id}_"
    try:
        outcome = DisputeOutcome(values.get("outcome", ""))
        if outcome not in DECISIONS:
            raise ValueError(outcome)
    except ValueError:
        outcome = None
    try:
        if outcome is None:
            raise FormError("outcome", "Choose approve, reject or modify")
        points: tuple[int | None, int | None] = (None, None)
        if outcome is DisputeOutcome.MODIFY:
            points = (
                whole_number(values, prefix + "points_earned"),
                whole_number(values, prefix + "points_total"),
            )
        resolution = assessments.resolve(
            Actor(user.id, user.role),
            assessment_id,
            outcome,
            values.get(prefix + "note", ""),
            *points,
        )
    except NotPermitted as e:
        if not isinstance(e, SelfValidationForbidden):
            raise
        return _review_page(
            request, sessions, assessments, status=403, errors={prefix + "outcome": str(e)}
        )
    except LedgerError as e:
        if isinstance(e, FormError):
            field, message = e.field, e.message
        elif isinstance(e, InvalidAssessment):
            field, message = prefix + e.field, e.reason
        else:
            field, message = prefix + "note", str(e)
        kept = {key: value for key, value in values.items() if key.startswith(prefix)}
        kept[prefix + "outcome"] = values.get("outcome", "")
        return _review_page(
            request,
            sessions,
            assessments,
            status=400 if isinstance(e, FormError | InvalidAssessment) else 409,
            errors={field if field.startswith(prefix) else prefix + field: message},
            values=kept,
        )
    return see_other(f"/ui/disputes?resolved={assessment_id}", request, resolution.answer.position)


ROUTES = [review, resolve]

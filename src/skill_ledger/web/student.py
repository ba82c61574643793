"""Student pages: my skills (status and percentage per skill), disputes, history, receipts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from skill_ledger.accounts import Accounts
from skill_ledger.assessments import Assessments
from skill_ledger.domain import Actor, InvalidAssessment, LedgerError, NotPermitted
from skill_ledger.settings import Settings
from skill_ledger.web.forms import form_of
from skill_ledger.web.render import SECURITY_HEADERS, page, read_token, see_other
from skill_ledger.web.session import Sessions


@get("/ui/skills", sync_to_thread=True)
def my_skills(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
    assessments: NamedDependency[Assessments],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """Each license the viewer holds: every skill's current status and percentage."""
    return _skills_page(request, sessions, accounts, assessments, settings)


def _skills_page(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    accounts: Accounts,
    assessments: Assessments,
    settings: Settings,
    *,
    status: int = 200,
    **context: Any,
) -> Response[Any]:
    user = sessions.user(request)
    actor = Actor(user.id, user.role)
    standings = []
    for license_id in accounts.licenses_held_by(user.id):
        active = {row.skill_name: row for row in assessments.standing(actor, license_id)}
        standings.append((license_id, [(skill, active.get(skill)) for skill in settings.skills]))
    disputed = request.query_params.get("disputed")
    return page(
        request,
        sessions,
        "skills.html",
        user,
        status=status,
        standings=standings,
        disputed=disputed,
        **context,
    )


@post("/ui/skills/{assessment_id:uuid}/dispute", sync_to_thread=True, status_code=303)
def dispute(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
    assessments: NamedDependency[Assessments],
    settings: NamedDependency[Settings],
    assessment_id: UUID,
) -> Response[Any]:
    """The holder contests a validated assessment, saying why; the form again when refused."""
    user = sessions.user(request)
    reason = form_of(request).get("reason", "")
    field = f"reason_{assessment_id}"
    try:
        answer = assessments.dispute(Actor(user.id, user.role), assessment_id, reason)
    except NotPermitted:
        raise
    except LedgerError as e:
        message = e.reason if isinstance(e, InvalidAssessment) else str(e)
        return _skills_page(
            request,
            sessions,
            accounts,
            assessments,
            settings,
            status=400 if isinstance(e, InvalidAssessment) else 409,
            errors={field: message},
            values={field: reason},
        )
    return see_other(f"/ui/skills?disputed={assessment_id}", request, answer.position)


@get("/ui/skills/{license_id:int}/{skill:str}", sync_to_thread=True)
def skill_history(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
    license_id: int,
    skill: str,
) -> Response[Any]:
    """Every assessment of one skill, newest first (students: only their own licenses)."""
    user = sessions.user(request)
    rows = assessments.history(
        Actor(user.id, user.role), license_id, skill, token=read_token(request)
    )
    return page(
        request, sessions, "history.html", user, license_id=license_id, skill=skill, rows=rows
    )


@get("/ui/receipts/{assessment_id:uuid}", sync_to_thread=True)
def receipt(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
    assessment_id: UUID,
) -> Response[bytes]:
    """The assessment's receipt as a JSON file, checkable offline (docs/verify_receipt.py)."""
    user = sessions.user(request)
    body = msgspec.json.encode(assessments.receipt(Actor(user.id, user.role), assessment_id))
    disposition = f'attachment; filename="receipt-{assessment_id}.json"'
    return Response(
        body,
        media_type="application/json",
        headers={**SECURITY_HEADERS, "Content-Disposition": disposition},
    )


ROUTES = [my_skills, dispute, skill_history, receipt]

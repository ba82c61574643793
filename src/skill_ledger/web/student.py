"""Student pages: my skills (status and percentage per skill), a skill's history, receipts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get

from skill_ledger.accounts import Accounts
from skill_ledger.assessments import Assessments
from skill_ledger.domain import Actor
from skill_ledger.settings import Settings
from skill_ledger.web.render import SECURITY_HEADERS, page
from skill_ledger.web.session import Sessions


@get("/ui/skills", sync_to_thread=True)
def my_skills(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    accounts: Accounts,
    assessments: Assessments,
    settings: Settings,
) -> Response[Any]:
    """Each license the viewer holds: every skill's current status and percentage."""
    user = sessions.user(request)
    actor = Actor(user.id, user.role)
    standings = []
    for license_id in accounts.licenses_held_by(user.id):
        active = {row.skill_name: row for row in assessments.standing(actor, license_id)}
        standings.append((license_id, [(skill, active.get(skill)) for skill in settings.skills]))
    return page(request, sessions, "skills.html", user, standings=standings)


@get("/ui/skills/{license_id:int}/{skill:str}", sync_to_thread=True)
def skill_history(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    assessments: Assessments,
    license_id: int,
    skill: str,
) -> Response[Any]:
    """Every assessment of one skill, newest first (students: only their own licenses)."""
    user = sessions.user(request)
    rows = assessments.history(Actor(user.id, user.role), license_id, skill)
    return page(
        request, sessions, "history.html", user, license_id=license_id, skill=skill, rows=rows
    )


@get("/ui/receipts/{assessment_id:uuid}", sync_to_thread=True)
def receipt(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    assessments: Assessments,
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


ROUTES = [my_skills, skill_history, receipt]

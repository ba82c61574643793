"""Instructor pages: grade a session (many grades at once), my recent assessments, archive."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from skill_ledger.accounts import Accounts
from skill_ledger.application import AssessItem
from skill_ledger.assessments import Answer, Assessments
from skill_ledger.domain import (
    Action,
    Actor,
    InvalidAssessment,
    LedgerError,
    NotPermitted,
    check_points,
    check_role,
)
from skill_ledger.settings import Settings
from skill_ledger.web.forms import FormError, form_of, whole_number
from skill_ledger.web.render import page, see_other
from skill_ledger.web.session import Sessions

RECENT = 50
EARNED = re.compile(r"earned_([1-9][0-9]{0,8})")
MAX_SESSION_ITEMS = 200
MAX_SESSION_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Grade:
    """One filled row of the session form."""

    license_id: int
    points_earned: int
    notes: str


def _grading_page(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    accounts: Accounts,
    settings: Settings,
    *,
    status: int = 200,
    **context: Any,
) -> Response[Any]:
    user = sessions.user(request)
    check_role(user.role, Action.ASSESS)
    squad = (request.query_params.get("squad") or form_of(request).get("squad", "")).strip()
    wanted = squad.lower()
    licenses = [
        info
        for info in accounts.licenses()
        if not wanted or wanted in info.holder_email.lower() or wanted == str(info.id)
    ]
    return page(
        request,
        sessions,
        "grade.html",
        user,
        status=status,
        skills=settings.skills,
        squad=squad,
        licenses=licenses[:MAX_SESSION_ITEMS],
        more=max(0, len(licenses) - MAX_SESSION_ITEMS),
        **context,
    )


@get("/ui/grade", sync_to_thread=True)
def grading_form(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """One skill, one points total, a row per license: fill the rows of those who trained."""
    return _grading_page(request, sessions, accounts, settings)


@post(
    "/ui/grade",
    sync_to_thread=True,
    status_code=200,
    request_max_body_size=MAX_SESSION_BODY_BYTES,
)
def grade(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
    assessments: NamedDependency[Assessments],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """Every filled row checked first (nothing recorded if one is wrong), then each assessed."""
    user = sessions.user(request)
    actor = Actor(user.id, user.role)
    values = form_of(request)
    try:
        skill, points_total, grades = _parse(values)
    except (FormError, InvalidAssessment) as e:
        field = e.field
        message = e.message if isinstance(e, FormError) else e.reason
        errors = {field: message}
        return _grading_page(
            request, sessions, accounts, settings, status=400, errors=errors, values=values
        )
    items = [
        AssessItem(row.license_id, skill, row.points_earned, points_total, row.notes)
        for row in grades
    ]
    # The bulk command: one transaction for the session, each item its own assess command.
    outcomes = assessments.assess_session(actor, items)
    results: list[tuple[Grade, Answer | None, str | None]] = []
    for row, outcome in zip(grades, outcomes, strict=True):
        if isinstance(outcome, NotPermitted):
            raise outcome
        if isinstance(outcome, LedgerError):
            results.append((row, None, str(outcome)))
        else:
            results.append((row, outcome, None))
    return _grading_page(
        request, sessions, accounts, settings, skill=skill, results=results, values={}
    )


def _parse(values: dict[str, str]) -> tuple[str, int, list[Grade]]:
    """The session's skill, points total and filled rows; the first bad field otherwise."""
    skill = values.get("skill", "")
    if not skill:
        raise FormError("skill", "Choose a skill")
    points_total = whole_number(values, "points_total")
    grades = []
    rows = sorted(int(found[1]) for key in values if (found := EARNED.fullmatch(key)))
    for license_id in rows:
        field = f"earned_{license_id}"
        if not values.get(field, "").strip():
            continue
        earned = whole_number(values, field)
        notes = values.get(f"notes_{license_id}", "")
        try:
            check_points(earned, points_total, notes)
        except InvalidAssessment as e:
            name = {"points_earned": field, "notes": f"notes_{license_id}"}.get(e.field, e.field)
            raise InvalidAssessment(name, e.reason) from None
        grades.append(Grade(license_id, earned, notes))
    if not grades:
        raise FormError("form", "Enter the points of at least one student")
    if len(grades) > MAX_SESSION_ITEMS:
        raise FormError("form", f"A session holds at most {MAX_SESSION_ITEMS} grades")
    return skill, points_total, grades


@get("/ui/mine", sync_to_thread=True)
def mine(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
) -> Response[Any]:
    """The viewer's recent assessments, newest first, with an archive form on active ones."""
    return _mine_page(request, sessions, assessments)


def _mine_page(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    assessments: Assessments,
    *,
    status: int = 200,
    **context: Any,
) -> Response[Any]:
    user = sessions.user(request)
    rows = assessments.made_by(Actor(user.id, user.role), RECENT)
    done = request.query_params.get("archived")
    return page(
        request, sessions, "mine.html", user, status=status, rows=rows, archived=done, **context
    )


@post("/ui/mine/{assessment_id:uuid}/archive", sync_to_thread=True, status_code=303)
def archive(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
    assessment_id: UUID,
) -> Response[Any]:
    """Take one of the viewer's assessments out of the active set, with a reason."""
    user = sessions.user(request)
    reason = form_of(request).get("reason", "")
    try:
        answer = assessments.archive(Actor(user.id, user.role), assessment_id, reason)
    except InvalidAssessment as e:
        return _mine_page(
            request,
            sessions,
            assessments,
            status=400,
            errors={f"reason_{assessment_id}": e.reason},
            values={f"reason_{assessment_id}": reason},
        )
    return see_other(f"/ui/mine?archived={assessment_id}", request, answer.position)


ROUTES = [grading_form, grade, mine, archive]

"""Grading a training session over HTTP: up to 200 assess commands in one request."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.security.jwt import Token

from skill_ledger.accounts import User
from skill_ledger.api.auth import actor_of
from skill_ledger.api.errors import ledger_problem
from skill_ledger.api.guards import allow
from skill_ledger.api.openapi import COMMON, ClosedJSONBody, problems
from skill_ledger.api.schemas import (
    AssessmentOut,
    SessionItemResult,
    SessionRequest,
    SessionResponse,
)
from skill_ledger.application import AssessItem
from skill_ledger.assessments import Assessments
from skill_ledger.domain import Action, LedgerError

MAX_SESSION_ITEMS = 200
MAX_SESSION_BODY_BYTES = 1024 * 1024
SESSION_413 = f"More than {MAX_SESSION_ITEMS} items, or a body larger than 1 MiB"


@post(
    "/api/v1/sessions/assess",
    guards=[allow(Action.ASSESS)],
    status_code=200,
    request_max_body_size=MAX_SESSION_BODY_BYTES,
    tags=["assessments"],
    summary="Grade a training session: up to 200 assessments, one result per item",
    responses=problems(400, *COMMON, 413, 415, described={413: SESSION_413}),
)
async def assess_session(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    data: ClosedJSONBody[SessionRequest],
) -> SessionResponse:
    """Each item is its own assess command; a refused item answers with its problem."""
    if len(data.items) > MAX_SESSION_ITEMS:
        raise HTTPException(
            status_code=413,
            detail=f"A session holds at most {MAX_SESSION_ITEMS} items, not {len(data.items)}",
        )
    items = [
        AssessItem(i.license_id, i.skill, i.points_earned, i.points_total, i.notes or "")
        for i in data.items
    ]
    steps = await anyio.to_thread.run_sync(assessments.session_steps, actor_of(request), items)
    answers = await assessments.answered_session(steps)
    results = []
    for index, (item, answer) in enumerate(zip(items, answers, strict=True)):
        if isinstance(answer, LedgerError):
            path = f"/api/v1/licenses/{item.license_id}/skills/{item.skill_name}/assess"
            problem = ledger_problem(path, answer)
            results.append(SessionItemResult(index, problem.status, problem=problem))
            continue
        created = answer.result.created
        results.append(
            SessionItemResult(
                index,
                201 if created else 200,
                created=created,
                assessment=AssessmentOut.of(answer.assessment),
            )
        )
    return SessionResponse(results)


SESSION_ROUTES = [assess_session]

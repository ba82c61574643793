"""Auditors' HTTP reads: a pair's, a user's or a license's events, a pair's state at a past
version or time, the global feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.security.jwt import Token

from skill_ledger.accounts import User
from skill_ledger.api.accounts import UserIdPath
from skill_ledger.api.auth import actor_of
from skill_ledger.api.guards import allow
from skill_ledger.api.openapi import COMMON, LedgerPosition, LicenseId, Skill, problems
from skill_ledger.api.schemas import AssessmentOut
from skill_ledger.assessments import Assessments
from skill_ledger.audit.records import EventRecord
from skill_ledger.audit.trail import MAX_FEED_LIMIT, parse_as_of
from skill_ledger.domain import Action


class PairStateOut(msgspec.Struct):
    """A pair's assessments as they stood after `version`."""

    license_id: int
    skill_name: str
    stream: str
    version: int
    as_of: datetime | None
    active: AssessmentOut | None
    assessments: list[AssessmentOut]


class FeedOut(msgspec.Struct):
    """A page of the global event feed; pass `next_after` back as `after` for the next page."""

    events: list[EventRecord]
    next_after: int
    has_more: bool


@get(
    "/api/v1/licenses/{license_id:int}/skills/{skill:str}/events",
    guards=[allow(Action.AUDIT)],
    sync_to_thread=True,
    tags=["audit"],
    summary="The pair's full event history: version, type, time, actor, payload, hash chain",
    responses=problems(400, *COMMON, 404),
)
def pair_events(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    license_id: LicenseId,
    skill: Skill,
    position: LedgerPosition = 0,
) -> list[EventRecord]:
    """Every event of the (license, skill) stream in version order."""
    return assessments.events(actor_of(request), license_id, skill, token=position)


@get(
    "/api/v1/licenses/{license_id:int}/skills/{skill:str}/state",
    guards=[allow(Action.AUDIT)],
    sync_to_thread=True,
    tags=["audit"],
    summary="Time travel: the pair's assessments as they stood at ?version=N or ?as_of=RFC 3339",
    responses=problems(400, *COMMON, 404),
)
def pair_state(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    license_id: LicenseId,
    skill: Skill,
    version: Annotated[int | None, Parameter(ge=0, le=2**31, required=False)] = None,
    as_of: Annotated[str | None, Parameter(max_length=64, required=False)] = None,
    position: LedgerPosition = 0,
) -> PairStateOut:
    """Folded from the stored events up to that version or moment (never from snapshots)."""
    moment = parse_as_of(as_of) if as_of is not None else None
    state = assessments.state(
        actor_of(request), license_id, skill, version=version, as_of=moment, token=position
    )
    return PairStateOut(
        license_id=state.license_id,
        skill_name=state.skill_name,
        stream=str(state.stream),
        version=state.version,
        as_of=state.as_of,
        active=AssessmentOut.of(state.active) if state.active else None,
        assessments=[AssessmentOut.of(row) for row in state.assessments],
    )


@get(
    "/api/v1/events",
    guards=[allow(Action.AUDIT)],
    sync_to_thread=True,
    tags=["audit"],
    summary="The global feed in notification order, with a cursor",
    responses=problems(400, *COMMON),
)
def event_feed(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    after: Annotated[int, Parameter(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=MAX_FEED_LIMIT)] = 100,
    position: LedgerPosition = 0,
) -> FeedOut:
    """Events after position `after`; commit order equals position order, so none is skipped."""
    page = assessments.feed(actor_of(request), after, limit, token=position)
    return FeedOut(events=page.events, next_after=page.next_after, has_more=page.has_more)


@get(
    "/api/v1/users/{user_id:int}/events",
    guards=[allow(Action.AUDIT)],
    sync_to_thread=True,
    tags=["audit"],
    summary="A user account's full event history: who gave which role, when",
    responses=problems(400, *COMMON, 404, described={404: "Unknown user"}),
)
def user_events(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    user_id: UserIdPath,
    position: LedgerPosition = 0,
) -> list[EventRecord]:
    """Every event of the user's stream in version order."""
    return assessments.user_events(actor_of(request), user_id, token=position)


@get(
    "/api/v1/licenses/{license_id:int}/events",
    guards=[allow(Action.AUDIT)],
    sync_to_thread=True,
    tags=["audit"],
    summary="A license's full event history: who held it, from when",
    responses=problems(400, *COMMON, 404, described={404: "Unknown license"}),
)
def license_events(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    license_id: LicenseId,
    position: LedgerPosition = 0,
) -> list[EventRecord]:
    """Every event of the license's stream in version order."""
    return assessments.license_events(actor_of(request), license_id, token=position)


AUDIT_TRAIL_ROUTES = [pair_events, pair_state, event_feed, user_events, license_events]

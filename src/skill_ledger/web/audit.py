"""Auditor pages: a pair's timeline (chain recomputed), state, the feed, checkpoint, verify."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from skill_ledger.assessments import Assessments, Proofs, SigningUnavailable
from skill_ledger.audit.records import EventRecord
from skill_ledger.audit.trail import PairState, parse_as_of
from skill_ledger.domain import GENESIS_HASH, Action, Actor, LedgerError, NotFound, check_role
from skill_ledger.services import Services
from skill_ledger.settings import Settings
from skill_ledger.web.forms import FormError, whole_number
from skill_ledger.web.render import page, read_token, see_other
from skill_ledger.web.session import Sessions

FEED_PAGE = 50


@dataclass(frozen=True, slots=True)
class Step:
    """An event of the timeline and what recomputing the chain says of it."""

    record: EventRecord
    hash_ok: bool
    linked: bool

    @property
    def ok(self) -> bool:
        """Its hash is its content's, and its prev_hash the previous event's hash."""
        return self.hash_ok and self.linked


@dataclass(frozen=True, slots=True)
class VerifyRun:
    """The last verify run from this console process."""

    at: datetime
    ok: bool
    events: int
    findings: list[str]
    seconds: float


def chain_steps(records: list[EventRecord]) -> list[Step]:
    """Each event's hash recomputed from its content, and its link to the one before."""
    steps, previous = [], GENESIS_HASH
    for record in records:
        steps.append(Step(record, record.hash_verifies(), record.prev_hash == previous))
        previous = record.hash or ""
    return steps


def _state_query(values: dict[str, str]) -> tuple[int | None, datetime | None]:
    version = whole_number(values, "version") if values.get("version") else None
    as_of = None
    if values.get("as_of"):
        try:
            as_of = parse_as_of(values["as_of"])
        except (ValueError, LedgerError) as e:
            raise FormError("as_of", f"{e} (e.g. 2026-05-01T12:00:00Z)") from None
    return version, as_of


@get("/ui/audit", sync_to_thread=True)
def audit_home(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
    proofs: NamedDependency[Proofs],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """A pair's timeline and its state at a version or time; the latest checkpoint and verify."""
    user = sessions.user(request)
    actor = Actor(user.id, user.role)
    check_role(actor.role, Action.AUDIT)
    values = dict(request.query_params)
    context: dict[str, Any] = {"values": values, "skills": settings.skills}
    status = 200
    if values.get("license") or values.get("skill"):
        try:
            license_id = whole_number(values, "license")
            version, as_of = _state_query(values)
            steps = chain_steps(
                assessments.events(
                    actor, license_id, values.get("skill", ""), token=read_token(request)
                )
            )
            state: PairState | None = None
            if version is not None or as_of is not None:
                state = assessments.state(
                    actor, license_id, values.get("skill", ""), version=version, as_of=as_of
                )
            context.update(steps=steps, state=state)
        except (FormError, LedgerError) as e:
            field = getattr(e, "field", None) or "license"
            message = e.message if isinstance(e, FormError) else str(e)
            context["errors"] = {field: message}
            status = 404 if isinstance(e, NotFound) else 400
    try:
        context["checkpoint"] = proofs.checkpoint(actor)
    except SigningUnavailable as e:
        context["checkpoint_missing"] = str(e)
    context["verify"] = getattr(request.app.state, "console_verify", None)
    return page(request, sessions, "audit.html", user, status=status, **context)


@post("/ui/audit/verify", status_code=303)
async def run_verify(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    services: NamedDependency[Services],
) -> Response[Any]:
    """Walk the whole log now (chains, tree, snapshots, read and account tables)."""
    user = await anyio.to_thread.run_sync(sessions.user, request)
    check_role(user.role, Action.AUDIT)
    report = await anyio.to_thread.run_sync(services.audit.verify)
    request.app.state.console_verify = VerifyRun(
        at=datetime.now(UTC),
        ok=report.ok,
        events=report.events,
        findings=[f"{finding.kind.value}: {finding.detail}" for finding in report.findings[:20]],
        seconds=report.seconds,
    )
    return see_other("/ui/audit")


@get("/ui/audit/feed", sync_to_thread=True)
def feed(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
) -> Response[Any]:
    """Every event in commit order, a page at a time."""
    user = sessions.user(request)
    values = dict(request.query_params)
    after = whole_number(values, "after") if values.get("after") else 0
    limit = whole_number(values, "limit") if values.get("limit") else FEED_PAGE
    result = assessments.feed(Actor(user.id, user.role), after, limit, token=read_token(request))
    return page(request, sessions, "feed.html", user, feed=result, after=after, limit=limit)


ROUTES = [audit_home, run_verify, feed]

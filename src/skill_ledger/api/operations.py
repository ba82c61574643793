"""Operators' routes: health with a real database round trip and the projector's state, metrics."""

from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from skill_ledger.api.openapi import problems
from skill_ledger.api.schemas import Health, ProjectorHealth
from skill_ledger.database import DatabaseUnavailable
from skill_ledger.metrics import exposition
from skill_ledger.readside.projector import REMEDY
from skill_ledger.services import Services


@get(
    "/health",
    exclude_from_auth=True,
    sync_to_thread=True,
    tags=["operations"],
    summary="200 healthy or degraded (projector stalled), 503 when the database does not answer",
    responses={
        503: ResponseSpec(Health, description="The database is unreachable"),
        **problems(500),
    },
)
def health(services: NamedDependency[Services]) -> Response[Health]:
    """Checked, not assumed: one query on a pooled connection; details stay generic.

    The query reads the log head and the tracking row (position, stall); the answer never
    names the host, port or database.
    """
    unavailable: tuple[type[Exception], ...] = (
        DatabaseUnavailable,
        *services.db.connection_errors,
    )
    try:
        status = services.projector.status(services.db)
    except unavailable:
        return Response(Health("unhealthy", "database unavailable"), status_code=503)
    projector = ProjectorHealth(
        status.position,
        status.head,
        status.lag_events,
        status.stall.position if status.stall else None,
    )
    if status.stall is not None:
        detail = (
            f"projector stalled at position {status.stall.position}: reads are served, "
            f"commands answer 503 until an operator runs `{REMEDY}`"
        )
        return Response(Health("degraded", detail, projector), status_code=200)
    return Response(Health("healthy", projector=projector), status_code=200)


@get(
    "/metrics",
    exclude_from_auth=True,
    sync_to_thread=True,
    tags=["operations"],
    summary="Prometheus metrics (text format)",
    include_in_schema=True,
    media_type=MediaType.TEXT,
    responses=problems(500),
)
def metrics(services: NamedDependency[Services]) -> Response[bytes]:
    """HTTP, command and projection metrics; projection and backlog gauges read at scrape."""
    body, content_type = exposition(services)
    # As a header: a text/* media_type would get a second "; charset=utf-8" appended.
    return Response(body, headers={"Content-Type": content_type})

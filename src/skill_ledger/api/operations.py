"""Operators' routes: health with a real database round trip, Prometheus metrics."""

from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.openapi.datastructures import ResponseSpec

from skill_ledger.api.openapi import problems
from skill_ledger.api.schemas import Health
from skill_ledger.database import DatabaseUnavailable
from skill_ledger.metrics import exposition
from skill_ledger.services import Services


@get(
    "/health",
    exclude_from_auth=True,
    sync_to_thread=True,
    tags=["operations"],
    summary="200 when the database answers, 503 otherwise",
    responses={
        503: ResponseSpec(Health, description="The database is unreachable"),
        **problems(500),
    },
)
def health(services: Services) -> Response[Health]:
    """Checked, not assumed: a real round trip to the database."""
    try:
        services.db.ping()
    except DatabaseUnavailable as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else "database unreachable"
        return Response(Health("unhealthy", f"database: {detail}"), status_code=503)
    return Response(Health("healthy"), status_code=200)


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
def metrics(services: Services) -> Response[bytes]:
    """HTTP, command and projection metrics; projection and backlog gauges read at scrape."""
    body, content_type = exposition(services)
    # As a header: a text/* media_type would get a second "; charset=utf-8" appended.
    return Response(body, headers={"Content-Type": content_type})

"""The edge of every request: its id (X-Request-ID in, out, on every log line), metrics, the
access log, and the problem answer to what the token check raises."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any, cast

import structlog
from litestar import Request, Response
from litestar.types import ASGIApp, ExceptionHandler, HTTPScope, Message, Receive, Scope, Send

from skill_ledger.api.errors import EXCEPTION_HANDLERS, on_unexpected
from skill_ledger.metrics import observe_request, requests_in_progress

log = structlog.get_logger("skill_ledger.access")
VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = b"x-request-id"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            candidate = value.decode("latin-1")
            return candidate if VALID_ID.match(candidate) else None
    return None


class EdgeMiddleware:
    """The one middleware around every route: request id, metrics, access log, early errors.

    - binds a request id (X-Request-ID in, or a new one) to every log line and echoes it;
    - answers what the middleware inside (the token check) raises with the error map's problem,
      so the access log, the metrics and the client all see the status the client gets
      (Litestar would turn it into a response only outside every middleware);
    - counts and times the request by route template, and logs one access line.
    One layer instead of three: each ASGI layer costs a call and a `send` wrapper per message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Unique per process and cheap: a random prefix and a counter (32 hex digits).
        prefix = secrets.token_hex(8)
        self._ids = (f"{prefix}{n:016x}" for n in itertools.count())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request."""
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or next(self._ids)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        method = cast("HTTPScope", scope)["method"]
        route = scope.get("path_template", scope["path"])
        status = 0
        in_progress = requests_in_progress(method, route)
        in_progress.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status:
                raise
            request: Request[Any, Any, Any] = Request(scope, receive)
            response: Response[Any] = handler_for(exc)(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            in_progress.dec()
            status = status or 500
            observe_request(method, route, status, seconds)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


def handler_for(exc: Exception) -> ExceptionHandler[Any]:
    """The error map's handler for this exception (nearest class in its MRO)."""
    for cls in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(cls)
        if handler is not None:
            return handler
    return on_unexpected  # pragma: no cover - Exception itself is in the map

"""Request ids (X-Request-ID in, out, on every log line), the access log, middleware errors."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any

import structlog
from litestar import Request, Response
from litestar.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from skill_ledger.api.errors import EXCEPTION_HANDLERS, on_unexpected

log = structlog.get_logger("skill_ledger.access")
VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = b"x-request-id"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            candidate = value.decode("latin-1")
            return candidate if VALID_ID.match(candidate) else None
    return None


class RequestContextMiddleware:
    """Bind a request id to the logging context; echo it; log one line per request."""

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
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope.get("method", ""),
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


def handler_for(exc: Exception) -> ExceptionHandler[Any]:
    """The error map's handler for this exception (nearest class in its MRO)."""
    for cls in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(cls)
        if handler is not None:
            return handler
    return on_unexpected  # pragma: no cover - Exception itself is in the map


class MiddlewareErrorsMiddleware:
    """Answer what the middlewares inside raise (token check, rate limit) right here.

    Litestar turns exceptions raised by middleware into responses only at the application's edge,
    outside every middleware: the access log then said 500 and the HTTP metrics 200 for a 401, a
    429 or a 503 of the token check, and the answer carried no X-Request-ID. Placed inside those
    two, this gives them the status the client gets.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through; on an exception before the response started, send its problem."""
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as exc:
            if started or scope["type"] != "http":  # type: ignore[comparison-overlap]
                raise
            request: Request[Any, Any, Any] = Request(scope, receive)
            response: Response[Any] = handler_for(exc)(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)

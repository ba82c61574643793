"""One map from errors to RFC 9457 problem responses; nothing a client sends becomes a 500."""

from __future__ import annotations

import re
from typing import Any

import structlog
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.types import ExceptionHandlersMap

from skill_ledger.api.schemas import NO_NUL, Problem
from skill_ledger.assessments import SigningUnavailable
from skill_ledger.audit.notary import CheckpointRefused
from skill_ledger.audit.trail import InvalidQuery, UnreadableHistory
from skill_ledger.audit.tree import TreeCorrupt
from skill_ledger.database import DatabaseUnavailable
from skill_ledger.domain import (
    AccountConflict,
    ConcurrencyConflict,
    DisputeRefused,
    DuplicateEmail,
    InvalidAccount,
    InvalidAssessment,
    InvalidTransition,
    LedgerError,
    NotFound,
    NotPermitted,
)
from skill_ledger.logins import LoginRefused, PasswordChecksBusy
from skill_ledger.readside.consistency import NotYetVisible

log = structlog.get_logger("skill_ledger.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
CLIENT_CLOSED = 499  # nginx's "client closed request": no answer reaches anyone
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    CLIENT_CLOSED: "Client Closed Request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
SLUGS = {
    400: "invalid-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}
AT_PATH = re.compile(r" - at `\$\.?([^`]*)`")
NAMED_FIELD = re.compile(r"(?:unknown|required) field `([^`]+)`")
BODY_KWARG = "data"
NUL_PATTERN_MESSAGE = f"Expected `str` matching regex {NO_NUL!r}"


class ClientDisconnected(Exception):
    """The client closed the connection before sending its whole body: nothing went wrong here."""


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """A problem+json response."""
    body = problem_body(request.url.path, status, detail, slug=slug, field=field, errors=errors)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_body(
    instance: str,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Problem:
    """The RFC 9457 body of a refusal."""
    return Problem(
        type=f"/problems/{slug or SLUGS.get(status, 'error')}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        field=field,
        errors=errors,
    )


POSITION_HEADER = "X-Ledger-Position"
HEADER_FIELDS = {"position": POSITION_HEADER}
"""Handler parameters read from a header, and the header a problem names instead."""


def _field_of(message: str, key: str | None) -> str | None:
    """The body field a msgspec message names, else the parameter Litestar reports."""
    at, named = AT_PATH.search(message), NAMED_FIELD.search(message)
    path = at.group(1) if at else ""
    if named and named.group(1):
        return f"{path}.{named.group(1)}" if path else named.group(1)
    if path:
        return path
    return key if key and key != BODY_KWARG else None


def on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    """Malformed JSON, wrong types, constraint violations, unknown fields → 400 naming the field."""
    errors: list[dict[str, Any]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", exc.detail))
            field = _field_of(message, item.get("key"))
            if item.get("source") == "header" and field is not None:
                field = HEADER_FIELDS.get(field, field)
            message = message.replace(NUL_PATTERN_MESSAGE, "Expected `str` without NUL characters")
            errors.append({"field": field, "message": AT_PATH.sub("", message)})
    detail = exc.detail or "Invalid request"
    if not errors and "JSON" not in detail:
        detail = f"Malformed JSON body: {detail}"
    if errors:
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
    return problem(
        request,
        400,
        detail,
        field=errors[0]["field"] if errors else None,
        errors=errors or None,
    )


def on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    """Litestar's own 4xx/5xx (routing, auth, rate limit, body size) as problems."""
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = str(headers.get("RateLimit-Reset", 60))
    if status >= 500:
        log.error("http_error", status=status, detail=exc.detail, path=request.url.path)
    detail = exc.detail if status < 500 else TITLES.get(status, "Server error")
    return problem(request, status, detail, headers=headers or None)


LEDGER_STATUS: tuple[tuple[type[LedgerError], int, str | None], ...] = (
    (SigningUnavailable, 503, None),
    (NotFound, 404, None),
    (NotPermitted, 403, None),
    (InvalidTransition, 409, "invalid-transition"),
    (DisputeRefused, 409, "dispute-refused"),
    (ConcurrencyConflict, 409, "concurrent-update"),
    (DuplicateEmail, 409, "duplicate-email"),
    (AccountConflict, 409, "account-conflict"),
)


def ledger_problem(instance: str, exc: LedgerError) -> Problem:
    """A domain error's body: not found 404, not permitted 403, conflicts 409, bad values 400."""
    field = (
        exc.field if isinstance(exc, InvalidAssessment | InvalidAccount | InvalidQuery) else None
    )
    for kind, status, slug in LEDGER_STATUS:
        if isinstance(exc, kind):
            return problem_body(instance, status, str(exc), slug=slug)
    return problem_body(instance, 400, str(exc), field=field)


def on_ledger(request: Request[Any, Any, Any], exc: LedgerError) -> Response[Problem]:
    """Domain errors as problems (a concurrent-update conflict says when to retry)."""
    body = ledger_problem(request.url.path, exc)
    retry = {"Retry-After": "1"} if isinstance(exc, ConcurrencyConflict) else None
    return Response(body, status_code=body.status, media_type=PROBLEM_MEDIA_TYPE, headers=retry)


def on_unreadable(request: Request[Any, Any, Any], exc: UnreadableHistory) -> Response[Problem]:
    """Stored events that cannot be replayed: a server-side problem worth an alert."""
    log.error("unreadable_history", path=request.url.path, error=str(exc))
    detail = f"{exc}; the store may have been tampered with: run `ledger audit verify`"
    return problem(request, 500, detail)


def on_login_refused(request: Request[Any, Any, Any], exc: LoginRefused) -> Response[Problem]:
    """A login refused before its password check: 503 when the server is busy, 429 otherwise."""
    status = 503 if isinstance(exc, PasswordChecksBusy) else 429
    return problem(request, status, str(exc), headers={"Retry-After": str(exc.retry_after)})


def on_tampered_tree(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The tree no longer matches what the log signed, or lacks nodes: worth an alert."""
    log.error("tree_inconsistent", path=request.url.path, error=str(exc))
    detail = f"{exc}; the store may have been tampered with: run `ledger audit verify`"
    return problem(request, 500, detail)


def on_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The database is down or saturated: 503, try again shortly."""
    log.warning("database_unavailable", path=request.url.path, error=str(exc).splitlines()[0])
    return problem(
        request,
        503,
        "The ledger's database is unavailable; retry shortly",
        headers={"Retry-After": "1"},
    )


def on_not_yet_visible(request: Request[Any, Any, Any], exc: NotYetVisible) -> Response[Problem]:
    """Read-your-writes cannot hold yet: 503, and the same command again is safe."""
    log.warning(
        "command_not_yet_visible",
        path=request.url.path,
        stalled_at=exc.stall.position if exc.stall else None,
    )
    return problem(
        request,
        503,
        str(exc),
        slug="projection-stalled" if exc.stall else "not-yet-visible",
        headers={"Retry-After": str(exc.retry_after)},
    )


def on_client_disconnected(
    request: Request[Any, Any, Any], exc: ClientDisconnected
) -> Response[Problem]:
    """A request the client gave up on: 499 in the access log and the metrics, never an error."""
    return problem(request, CLIENT_CLOSED, "The client closed the connection", slug="client-closed")


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """A bug: log it with the traceback, answer a plain 500."""
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return problem(request, 500, "Internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ClientDisconnected: on_client_disconnected,
    ValidationException: on_validation,
    HTTPException: on_http,
    LedgerError: on_ledger,
    UnreadableHistory: on_unreadable,
    LoginRefused: on_login_refused,
    NotYetVisible: on_not_yet_visible,
    CheckpointRefused: on_tampered_tree,
    TreeCorrupt: on_tampered_tree,
    DatabaseUnavailable: on_unavailable,
    StoreOperationalError: on_unavailable,
    StoreInterfaceError: on_unavailable,
    Exception: on_unexpected,
}

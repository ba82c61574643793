"""The console's router: its pages, session and CSRF checks, error pages and security headers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from skill_ledger.domain import LedgerError, NotFound, NotPermitted
from skill_ledger.readside.consistency import NotYetVisible
from skill_ledger.settings import Settings
from skill_ledger.web import admin, audit, dashboards, disputes, instructor, signin, student
from skill_ledger.web.render import HERE, SECURITY_HEADERS, page, see_other
from skill_ledger.web.session import CSRF_FIELD, Sessions, SignInRequired

CONSOLE_AUDIENCE_SUFFIX = "-console"


class CsrfRefused(PermissionDeniedException):
    """A form posted without this browser's CSRF token."""


async def with_security_headers(response: Response[Any]) -> Response[Any]:
    """No framing, no script, no sniffing, nothing cached (error pages set them themselves)."""
    response.headers.update(SECURITY_HEADERS)
    return response


def console_router(settings: Settings, secret: str) -> Router:
    """Every console route, sharing one session issuer (the API's secret, its own audience)."""
    sessions = Sessions(
        secret,
        settings.jwt_issuer,
        settings.jwt_audience + CONSOLE_AUDIENCE_SUFFIX,
        settings.jwt_expiry_seconds,
    )

    async def check_form(request: Request[Any, Any, Any]) -> None:
        """Every post: parse the form, then refuse it (403) without its CSRF token."""
        if request.method != "POST":
            return
        form = await request.form()
        values = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        if not sessions.csrf_valid(request, values.get(CSRF_FIELD)):
            raise CsrfRefused("The form's security token is missing or stale: reload the page")
        request.state.form = values

    def error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
        return page(request, sessions, "error.html", None, status=status, message=message)

    def on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if isinstance(exc, SignInRequired):
            return see_other("/ui/login")
        if isinstance(exc, HTTPException):
            status = exc.status_code
            return error_page(request, status, exc.detail if status < 500 else "Server error")
        if isinstance(exc, NotYetVisible):
            return error_page(request, 503, f"{exc}; reload the page in a moment")
        status = 403 if isinstance(exc, NotPermitted) else 404 if isinstance(exc, NotFound) else 400
        return error_page(request, status, str(exc))

    # The API's login limit per client address, on the console's sign-in too.
    rate_limit = RateLimitConfig(rate_limit=("minute", settings.login_rate_per_minute))
    pages: list[ControllerRouterHandler] = [
        signin.root,
        signin.home,
        signin.sign_in_form,
        signin.sign_out,
        *admin.ROUTES,
        *disputes.ROUTES,
        *instructor.ROUTES,
        *student.ROUTES,
        *audit.ROUTES,
        *dashboards.ROUTES,
        Router(path="/", route_handlers=[signin.sign_in], middleware=[rate_limit.middleware]),
        create_static_files_router(path="/ui/static", directories=[HERE / "static"]),
    ]
    return Router(
        path="/",
        route_handlers=pages,
        dependencies={"sessions": Provide(lambda: sessions, sync_to_thread=False)},
        before_request=check_form,
        after_request=with_security_headers,
        exception_handlers={
            LedgerError: on_error,
            HTTPException: on_error,
            NotYetVisible: on_error,
        },
        opt={"exclude_from_auth": True},
        include_in_schema=False,
    )

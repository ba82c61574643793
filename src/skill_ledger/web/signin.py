"""Signing in and out, and where `/` and `/ui` lead."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect

from skill_ledger.logins import LoginRefused, PasswordChecksBusy
from skill_ledger.services import Services
from skill_ledger.web.forms import form_of
from skill_ledger.web.render import HOME, SECURITY_HEADERS, page, see_other
from skill_ledger.web.session import Sessions, is_tls


@get("/", sync_to_thread=False)
def root() -> Redirect:
    """The console is the front page."""
    return Redirect("/ui", status_code=302, headers=SECURITY_HEADERS)


@get("/ui", sync_to_thread=True)
def home(request: Request[Any, Any, Any], sessions: NamedDependency[Sessions]) -> Redirect:
    """Each role's first page."""
    return see_other(HOME[sessions.user(request).role.value])


@get("/ui/login", sync_to_thread=False)
def sign_in_form(
    request: Request[Any, Any, Any], sessions: NamedDependency[Sessions]
) -> Response[Any]:
    """Email and password."""
    return page(request, sessions, "login.html", None)


@post("/ui/login", status_code=303)
async def sign_in(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    services: NamedDependency[Services],
) -> Response[Any]:
    """A session cookie, within the API's login limits; the form again, saying why, otherwise."""
    values = form_of(request)
    email, password = values.get("email", "").strip(), values.get("password", "")
    errors = {}
    if not email:
        errors["email"] = "Email is required"
    if not password:
        errors["password"] = "Password is required"  # noqa: S105 (a message, not a secret)
    kept = {"email": email}
    if errors:
        return page(request, sessions, "login.html", None, status=400, errors=errors, values=kept)
    try:
        user = await services.logins.authenticate(email, password)
    except LoginRefused as e:
        status = 503 if isinstance(e, PasswordChecksBusy) else 429
        refused = page(
            request, sessions, "login.html", None, status=status, errors={"form": str(e)}
        )
        refused.headers["Retry-After"] = str(e.retry_after)
        return refused
    if user is None:
        wrong = {"form": "Invalid email or password"}
        return page(request, sessions, "login.html", None, status=401, errors=wrong, values=kept)
    signed_in = see_other(HOME[user.role.value])
    signed_in.set_cookie(sessions.cookie(user, is_tls(request)))
    return signed_in


@post("/ui/logout", status_code=303, sync_to_thread=False)
def sign_out(request: Request[Any, Any, Any], sessions: NamedDependency[Sessions]) -> Redirect:
    """The session cookie cleared."""
    signed_out = see_other("/ui/login")
    signed_out.set_cookie(sessions.cleared(is_tls(request)))
    return signed_out

"""Pages: templates rendered with the viewer, the navigation their role allows, CSRF and headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from skill_ledger.accounts import User
from skill_ledger.domain import ROLES, Action, Role
from skill_ledger.web.session import CSRF_FIELD, Sessions, is_tls

POSITION_COOKIE = "ledger_position"
POSITION_COOKIE_SECONDS = 300

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    # No script at all, inline or not; styles only from the console's own stylesheet.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class Link:
    """A navigation entry and the roles that see it (those the domain lets take its action)."""

    path: str
    label: str
    roles: frozenset[Role]


NAVIGATION = (
    Link("/ui/queue", "Validation queue", ROLES[Action.VALIDATE]),
    Link("/ui/disputes", "Disputes", ROLES[Action.RESOLVE]),
    Link("/ui/grade", "Grade a session", ROLES[Action.ASSESS]),
    Link("/ui/mine", "My assessments", ROLES[Action.ASSESS]),
    Link("/ui/skills", "My skills", frozenset({Role.STUDENT})),  # the holders of licenses
    Link("/ui/audit", "Audit trail", ROLES[Action.AUDIT]),
    Link("/ui/dashboard", "Dashboards", ROLES[Action.AUDIT]),
    Link("/ui/accounts", "Accounts", ROLES[Action.MANAGE_ACCOUNTS]),
)
HOME = {
    "admin": "/ui/queue",
    "instructor": "/ui/grade",
    "student": "/ui/skills",
    "auditor": "/ui/audit",
}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 over the package's templates, autoescaping everything (notes are shown inert)."""
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["age"] = age
    return TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment))


def when(moment: datetime | str | None) -> str:
    """A moment as UTC text, to the second."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(moment: datetime) -> str:
    """How long ago, in the largest sensible unit."""
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def page(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    name: str,
    user: User | None,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    """A page: the template with the viewer, their navigation and a CSRF token for its forms."""
    seed, new_cookie = sessions.csrf_seed(request)
    nav = [] if user is None else [link for link in NAVIGATION if user.role in link.roles]
    return Template(
        template_name=name,
        context={
            "viewer": user,
            "nav": nav,
            "path": request.url.path,
            "csrf_field": CSRF_FIELD,
            "csrf": sessions.csrf_token(seed),
            "errors": {},
            "values": {},
            **context,
        },
        cookies=[new_cookie] if new_cookie else None,
        headers=SECURITY_HEADERS,
        status_code=status,
    )


def see_other(
    path: str, request: Request[Any, Any, Any] | None = None, position: int = 0
) -> Redirect:
    """After a successful post, the page to show (303: the browser gets it).

    A command's log position rides along in a cookie, so the pages that follow read a replica
    only once it has replayed that far (read-your-writes across API nodes, as the API's token).
    """
    redirect = Redirect(path, status_code=303, headers=SECURITY_HEADERS)
    if request is not None and position > 0:
        redirect.set_cookie(
            Cookie(
                key=POSITION_COOKIE,
                value=str(position),
                path="/ui",
                max_age=POSITION_COOKIE_SECONDS,
                httponly=True,
                samesite="strict",
                secure=is_tls(request),
            )
        )
    return redirect


def read_token(request: Request[Any, Any, Any]) -> int:
    """The position of this browser's last command (0: none, or not a number)."""
    raw = request.cookies.get(POSITION_COOKIE, "")
    return int(raw) if raw.isdigit() and len(raw) <= 18 else 0

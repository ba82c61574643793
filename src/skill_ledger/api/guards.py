"""Route guards: the domain's role rules, and one canonical URL per resource."""

from __future__ import annotations

import re
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from skill_ledger.accounts import User
from skill_ledger.domain import Action, check_role

PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def allow(action: Action) -> Guard:
    """A guard admitting the roles the domain lets take `action` (403 otherwise)."""

    # Async on purpose: Litestar runs a sync guard in a worker thread (a hop per request).
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user: User = connection.user
        check_role(user.role, action)

    return guard


async def canonical_path(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """404 unless each id in the path is spelled canonically: one resource, one URL.

    The int and uuid converters take whatever int() and UUID() take: "+1", "01", "١" and "１"
    would all name license 1 ("1_0" license 10), and braces, "urn:uuid:" or no dashes the same
    assessment. Case is ignored, as RFC 9562 says UUIDs are read.
    """
    params = connection.path_params
    canonical = PATH_PARAMETER.sub(
        lambda m: str(params[m.group(1)]), connection.scope["path_template"]
    )
    if canonical.lower() != connection.scope["path"].lower():
        raise NotFoundException(f"Not found; the canonical path is {canonical}")

"""Bearer tokens (Litestar's JWTAuth, HS256) and role guards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token
from litestar.types import Guard

from skill_ledger.accounts import User
from skill_ledger.domain import Actor, Role
from skill_ledger.services import Services

ALGORITHM = "HS256"


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The process's services, opened in the app's lifespan."""
    services: Services = connection.app.state.services
    return services


async def retrieve_user(
    token: Token, connection: ASGIConnection[Any, Any, Any, Any]
) -> User | None:
    """The token's user while the account is active (looked up at most once a second per user)."""
    try:
        user_id = int(token.sub)
    except ValueError:
        return None
    services = services_of(connection)
    seen, user = services.accounts.recently_seen(user_id, services.settings.auth_cache_seconds)
    if seen:
        return user
    return await anyio.to_thread.run_sync(services.accounts.active_user, user_id)


def build_jwt_auth(secret: str, expiry_seconds: int) -> JWTAuth[User, Token]:
    """JWTAuth; routes opt out with exclude_from_auth=True (never unanchored exclude regexes)."""
    return JWTAuth[User, Token](
        retrieve_user_handler=retrieve_user,
        token_secret=secret,
        algorithm=ALGORITHM,
        default_token_expiration=timedelta(seconds=expiry_seconds),
        exclude_opt_key="exclude_from_auth",
        # Anchored: an unanchored "/schema" would also exempt any path containing it.
        exclude=["^/schema(/|$)"],
        require_claims=["exp", "sub"],
        description="Bearer token from POST /api/v1/auth/login",
    )


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The authenticated user as the domain's Actor."""
    user: User = connection.user
    return Actor(user.id, user.role)


def allow(*roles: Role) -> Guard:
    """A guard admitting only these roles (403 otherwise)."""
    names = ", ".join(role.value for role in roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user: User = connection.user
        if user.role not in roles:
            raise PermissionDeniedException(
                f"Role {user.role.value} may not do this; allowed: {names}"
            )

    return guard


READERS = (Role.ADMIN, Role.INSTRUCTOR, Role.AUDITOR, Role.STUDENT)
ASSESSORS = (Role.ADMIN, Role.INSTRUCTOR)
VALIDATORS = (Role.ADMIN,)
ARCHIVERS = (Role.ADMIN, Role.INSTRUCTOR)


def check_may_read_license(services: Services, user: User, license_id: int) -> None:
    """Students read only the licenses they hold; everyone else reads all."""
    if user.role is not Role.STUDENT:
        return
    holder = services.accounts.license_holder(license_id)
    if holder is not None and holder != user.id:
        raise PermissionDeniedException("Students can read only the licenses they hold")

"""Bearer tokens: Litestar's JWTAuth (HS256), the token's user, and that user as an Actor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token

from skill_ledger.accounts import User
from skill_ledger.domain import Actor
from skill_ledger.services import Services

ALGORITHM = "HS256"


async def retrieve_user(
    token: Token, connection: ASGIConnection[Any, Any, Any, Any]
) -> User | None:
    """The token's user while the account is active and the token was issued after the account
    was last deactivated or its password reset (looked up at most once a second per user)."""
    try:
        user_id = int(token.sub)
    except ValueError:
        return None
    services: Services = connection.app.state.services
    seen, user = services.accounts.recently_seen(user_id, services.settings.auth_cache_seconds)
    if not seen:
        user = await anyio.to_thread.run_sync(services.accounts.active_user, user_id)
    return user if user is not None and user.row().accepts_token_issued_at(token.iat) else None


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


class TokenIssuer:
    """Signs a bearer token for a user who just proved who they are."""

    def __init__(self, auth: JWTAuth[User, Token]) -> None:
        self._auth = auth

    def issue(self, user: User) -> str:
        """A token whose subject is the user's id (expiry and algorithm from the JWTAuth)."""
        return self._auth.create_token(identifier=str(user.id))


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The authenticated user as the domain's Actor."""
    user: User = connection.user
    return Actor(user.id, user.role)

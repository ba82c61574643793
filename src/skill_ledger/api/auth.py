"""Bearer tokens: Litestar's JWTAuth (HS256), the token's user, and that user as an Actor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import jwt
from litestar.connection import ASGIConnection
from litestar.exceptions import ImproperlyConfiguredException
from litestar.security.jwt import JWTAuth, Token

from skill_ledger.accounts import User
from skill_ledger.domain import Actor
from skill_ledger.services import Services
from skill_ledger.settings import Settings

ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 5
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
DECODED_CACHE_SIZE = 4096
_DECODED: dict[tuple[str, ...], dict[str, Any]] = {}
"""Verified token payloads by token (and the checks they passed), per process."""


@dataclass
class LedgerToken(Token):
    """Litestar's Token, tolerating a few seconds of clock skew between issuer and verifier.

    Litestar's own refuses an `iat` even one second ahead of this host's clock, and PyJWT
    refuses it too unless given a leeway; another node a little ahead issued such tokens.
    """

    def __post_init__(self) -> None:
        if not self.sub:
            raise ImproperlyConfiguredException("sub must be a non-empty string")
        now = datetime.now(UTC)
        skew = timedelta(seconds=CLOCK_SKEW_SECONDS)
        self.exp = _whole_seconds(self.exp)
        self.iat = _whole_seconds(self.iat)
        if self.exp < now - skew:
            raise ImproperlyConfiguredException("exp must be in the future")
        if self.iat > now + skew:
            raise ImproperlyConfiguredException("iat must not be in the future")

    @classmethod
    def decode_payload(
        cls,
        encoded_token: str,
        secret: str,
        algorithms: list[str],
        issuer: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        options: Any = None,
    ) -> Any:
        """PyJWT's decode with the clock-skew leeway (exp, iat and nbf alike), remembered.

        A client sends the same token with every request: its signature and claims are checked
        once, then the payload is reused (a copy). Expiry still counts on every request:
        `__post_init__` refuses an `exp` in the past, and the user check runs as before.
        """
        key = (
            encoded_token,
            secret,
            repr(algorithms),
            repr(issuer),
            repr(audience),
            repr(options),
        )
        payload = _DECODED.get(key)
        if payload is None:
            payload = jwt.decode(
                encoded_token,
                secret,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                options=options,
                leeway=CLOCK_SKEW_SECONDS,
            )
            if len(_DECODED) >= DECODED_CACHE_SIZE:
                _DECODED.clear()
            _DECODED[key] = payload
        return dict(payload)


def _whole_seconds(moment: datetime) -> datetime:
    """UTC, without microseconds (what a JWT's NumericDate holds)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


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


def build_jwt_auth(secret: str, settings: Settings) -> JWTAuth[User, LedgerToken]:
    """JWTAuth; routes opt out with exclude_from_auth=True (never unanchored exclude regexes)."""
    return JWTAuth[User, LedgerToken](
        retrieve_user_handler=retrieve_user,
        token_secret=secret,
        algorithm=ALGORITHM,
        token_cls=LedgerToken,
        default_token_expiration=timedelta(seconds=settings.jwt_expiry_seconds),
        accepted_issuers=[settings.jwt_issuer],
        accepted_audiences=[settings.jwt_audience],
        strict_audience=True,
        exclude_opt_key="exclude_from_auth",
        # Anchored: an unanchored "/schema" would also exempt any path containing it.
        exclude=["^/schema(/|$)"],
        require_claims=list(REQUIRED_CLAIMS),
        description="Bearer token from POST /api/v1/auth/login",
    )


class TokenIssuer:
    """Signs a bearer token for a user who just proved who they are."""

    def __init__(self, auth: JWTAuth[User, LedgerToken], settings: Settings) -> None:
        self._auth = auth
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def issue(self, user: User) -> str:
        """A token for the user's id, with this ledger's issuer and audience."""
        return self._auth.create_token(
            identifier=str(user.id), token_issuer=self._issuer, token_audience=self._audience
        )


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The authenticated user as the domain's Actor."""
    user: User = connection.user
    return Actor(user.id, user.role)

"""The console's cookie session and CSRF tokens, signed with the API's secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from litestar import Request
from litestar.datastructures import Cookie

from skill_ledger.accounts import User
from skill_ledger.domain import Actor, LedgerError
from skill_ledger.services import Services

SESSION_COOKIE = "ledger_session"
CSRF_COOKIE = "ledger_csrf"
CSRF_FIELD = "csrf"
ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 5


class SignInRequired(LedgerError):
    """No valid session: the console sends the browser to the sign-in page."""

    def __init__(self) -> None:
        super().__init__("Sign in to use the console")


@dataclass(frozen=True, slots=True)
class Sessions:
    """Issues and reads session cookies (JWTs of their own audience) and CSRF tokens."""

    secret: str
    issuer: str
    audience: str
    expiry_seconds: int

    def cookie(self, user: User, secure: bool) -> Cookie:
        """A session cookie for a user who just signed in, expiring like the API's tokens."""
        now = datetime.now(UTC).replace(microsecond=0)
        claims = {
            "sub": str(user.id),
            "iat": now,
            "exp": now + timedelta(seconds=self.expiry_seconds),
            "iss": self.issuer,
            "aud": self.audience,
        }
        value = jwt.encode(claims, self.secret, algorithm=ALGORITHM)
        return self._cookie(SESSION_COOKIE, value, secure, self.expiry_seconds)

    def cleared(self, secure: bool) -> Cookie:
        """The session cookie, expired (signing out)."""
        return self._cookie(SESSION_COOKIE, "", secure, 0)

    def user(self, request: Request[Any, Any, Any]) -> User:
        """The signed-in user, while active and signed in after their last deactivation."""
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            raise SignInRequired()
        try:
            claims = jwt.decode(
                value,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            user_id = int(claims["sub"])
        except (jwt.PyJWTError, ValueError):
            raise SignInRequired() from None
        services: Services = request.app.state.services
        seen, user = services.accounts.recently_seen(user_id, services.settings.auth_cache_seconds)
        if not seen:
            user = services.accounts.active_user(user_id)
        issued = datetime.fromtimestamp(int(claims["iat"]), UTC)
        if user is None or not user.row().accepts_token_issued_at(issued):
            raise SignInRequired()
        return user

    def actor(self, request: Request[Any, Any, Any]) -> Actor:
        """The signed-in user as the domain's Actor."""
        user = self.user(request)
        return Actor(user.id, user.role)

    # -- CSRF: a random cookie, and a form field that only this server can derive from it ------

    def csrf_seed(self, request: Request[Any, Any, Any]) -> tuple[str, Cookie | None]:
        """The browser's CSRF cookie value, and a new cookie to set when it has none."""
        seed = request.cookies.get(CSRF_COOKIE)
        if seed:
            return seed, None
        seed = secrets.token_urlsafe(32)
        return seed, self._cookie(CSRF_COOKIE, seed, is_tls(request), None)

    def csrf_token(self, seed: str) -> str:
        """The form field's value for a CSRF cookie."""
        return hmac.new(self.secret.encode(), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, request: Request[Any, Any, Any], token: str | None) -> bool:
        """The posted token matches the browser's CSRF cookie."""
        seed = request.cookies.get(CSRF_COOKIE)
        if not seed or not token:
            return False
        return hmac.compare_digest(self.csrf_token(seed), token)

    @staticmethod
    def _cookie(key: str, value: str, secure: bool, max_age: int | None) -> Cookie:
        return Cookie(
            key=key,
            value=value,
            path="/",
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=secure,
        )


def is_tls(request: Request[Any, Any, Any]) -> bool:
    """The console is served over TLS (cookies then carry Secure)."""
    return request.url.scheme == "https"

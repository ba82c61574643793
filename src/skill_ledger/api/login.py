"""Login: email and password for a bearer token, within the login limits."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException

from skill_ledger.api.auth import TokenIssuer
from skill_ledger.api.openapi import LOGIN_DESCRIBED, ClosedJSONBody, problems
from skill_ledger.api.schemas import LoginRequest, LoginResponse
from skill_ledger.logins import Logins


@dataclass(frozen=True, slots=True)
class LoginDesk:
    """What the login route needs, as its one dependency: the checks and the token issuer."""

    logins: Logins
    tokens: TokenIssuer
    expiry_seconds: int

    async def login(self, email: str, password: str) -> LoginResponse:
        """A token, or 401; refused at once when every password-check slot is taken."""
        # The slot is taken on the event loop: a refused login never occupies a thread.
        user = await self.logins.authenticate(email, password)
        if user is None:
            raise NotAuthorizedException("Invalid email or password")
        return LoginResponse(self.tokens.issue(user), "bearer", self.expiry_seconds)


@post(
    "/api/v1/auth/login",
    exclude_from_auth=True,
    status_code=200,
    tags=["auth"],
    summary="Exchange email and password for a bearer token",
    responses=problems(400, 401, 413, 415, 429, 500, 503, described=LOGIN_DESCRIBED),
)
async def login(
    desk: NamedDependency[LoginDesk], data: ClosedJSONBody[LoginRequest]
) -> LoginResponse:
    """Same 401 for an unknown email and a wrong password, same 429 for a throttled one."""
    return await desk.login(data.email, data.password)

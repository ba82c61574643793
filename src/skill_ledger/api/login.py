"""Login: email and password for a bearer token."""

from __future__ import annotations

from litestar import post
from litestar.exceptions import NotAuthorizedException

from skill_ledger.accounts import Accounts
from skill_ledger.api.auth import TokenIssuer
from skill_ledger.api.openapi import ClosedJSONBody, problems
from skill_ledger.api.schemas import LoginRequest, LoginResponse
from skill_ledger.settings import Settings


@post(
    "/api/v1/auth/login",
    exclude_from_auth=True,
    sync_to_thread=True,
    status_code=200,
    tags=["auth"],
    summary="Exchange email and password for a bearer token",
    responses=problems(400, 401, 413, 415, 429, 500, 503),
)
def login(
    accounts: Accounts,
    settings: Settings,
    tokens: TokenIssuer,
    data: ClosedJSONBody[LoginRequest],
) -> LoginResponse:
    """Same 401 for an unknown email and a wrong password."""
    user = accounts.authenticate(data.email, data.password)
    if user is None:
        raise NotAuthorizedException("Invalid email or password")
    return LoginResponse(tokens.issue(user), "bearer", settings.jwt_expiry_seconds)

"""Users and licenses over HTTP, for admins: parse, call the accounts, shape the answer.

Every change is an event in the ledger naming the admin who made it.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar import MediaType, Request, Response, get, post, route
from litestar.di import NamedDependency
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, Parameter
from litestar.security.jwt import Token

from skill_ledger.accounts import Accounts, User
from skill_ledger.api.auth import actor_of
from skill_ledger.api.errors import POSITION_HEADER
from skill_ledger.api.guards import allow
from skill_ledger.api.openapi import (
    CARRIES_POSITION,
    COMMON,
    MAX_LICENSE_ID,
    ClosedJSONBody,
    LicenseId,
    problems,
)
from skill_ledger.api.schemas import (
    HolderRequest,
    LicenseOut,
    LicenseResponse,
    NewUserRequest,
    PasswordRequest,
    RoleRequest,
    UserOut,
    UserResponse,
)
from skill_ledger.domain import Action

T = TypeVar("T")

ADMINS = [allow(Action.MANAGE_ACCOUNTS)]
TAGS = ["accounts"]
DESCRIBED = {
    403: "Only admins manage accounts, and never their own deactivation or role",
    404: "Unknown user or license",
    409: (
        "The accounts forbid it: the email is taken, the user is the last active admin, "
        "the holder is not an active student, a student still holds licenses, or the account "
        "has no history in the ledger (written outside it)"
    ),
}
UserIdPath = FromPath[
    Annotated[
        int,
        Parameter(
            ge=1,
            le=MAX_LICENSE_ID,
            description="User id",
            schema_extra={"minimum": 1, "maximum": MAX_LICENSE_ID},
        ),
    ]
]
AuthRequest = Request[User, Token, Any]


def options_for(path: str, *methods: str) -> HTTPRouteHandler:
    """OPTIONS listing every method of a path that several handlers share.

    Litestar 2 answers OPTIONS for such a path with the first registered handler's methods only
    (litestar-org/litestar#4169, fixed in v3); registered first, this one is used instead.
    """
    allowed = ", ".join(sorted({*methods, "OPTIONS"}))

    def options() -> Response[None]:
        return Response(
            None, status_code=204, headers={"Allow": allowed}, media_type=MediaType.TEXT
        )

    return route(
        path,
        http_method=[HttpMethod.OPTIONS],
        name=f"options {path}",
        include_in_schema=False,
        exclude_from_auth=True,
        sync_to_thread=False,
    )(options)


def answered(
    accounts: Accounts, user: User, changed: bool, status: int = 200
) -> Response[UserResponse]:
    """An account command's answer, with its consistency token."""
    return positioned(
        accounts, UserResponse(success=True, changed=changed, user=UserOut.of(user)), status
    )


def positioned(accounts: Accounts, body: T, status: int = 200) -> Response[T]:
    """An account command's answer carrying X-Ledger-Position: the log's head after it (which
    covers the command: it committed before)."""
    return Response(body, status_code=status, headers={POSITION_HEADER: str(accounts.log_head())})


@get(
    "/api/v1/users",
    guards=ADMINS,
    sync_to_thread=True,
    tags=TAGS,
    summary="Every user, by id (admins)",
    responses=problems(*COMMON, described=DESCRIBED),
)
def list_users(accounts: NamedDependency[Accounts]) -> list[UserOut]:
    """Id, email, name, role, active and creation time of every user."""
    return [UserOut.of(user) for user in accounts.users()]


@post(
    "/api/v1/users",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=201,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Create a user (admins)",
    responses=problems(400, *COMMON, 409, 413, 415, described=DESCRIBED),
)
def create_user(
    request: AuthRequest, accounts: NamedDependency[Accounts], data: ClosedJSONBody[NewUserRequest]
) -> Response[UserResponse]:
    """A new active account; 409 when the email is taken (in any letter case)."""
    user = accounts.add_user(data.email, data.name, data.role, data.password, by=actor_of(request))
    return answered(accounts, user, True, 201)


@get(
    "/api/v1/users/{user_id:int}",
    guards=ADMINS,
    sync_to_thread=True,
    tags=TAGS,
    summary="One user (admins)",
    responses=problems(400, *COMMON, 404, described=DESCRIBED),
)
def get_user(accounts: NamedDependency[Accounts], user_id: UserIdPath) -> UserOut:
    """The user as the users table holds them."""
    return UserOut.of(accounts.user(user_id))


@post(
    "/api/v1/users/{user_id:int}/deactivate",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Deactivate a user: logins refused, tokens issued so far refused for good (admins)",
    responses=problems(400, *COMMON, 404, 409, described=DESCRIBED),
)
def deactivate_user(
    request: AuthRequest, accounts: NamedDependency[Accounts], user_id: UserIdPath
) -> Response[UserResponse]:
    """Never one's own account, nor the last active admin; again records nothing."""
    return answered(accounts, *accounts.deactivate(user_id, by=actor_of(request)))


@post(
    "/api/v1/users/{user_id:int}/activate",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Let a deactivated user in again (admins)",
    responses=problems(400, *COMMON, 404, 409, described=DESCRIBED),
)
def activate_user(
    request: AuthRequest, accounts: NamedDependency[Accounts], user_id: UserIdPath
) -> Response[UserResponse]:
    """Again on an active user records nothing."""
    return answered(accounts, *accounts.activate(user_id, by=actor_of(request)))


@post(
    "/api/v1/users/{user_id:int}/role",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Give a user another role (admins)",
    responses=problems(400, *COMMON, 404, 409, 413, 415, described=DESCRIBED),
)
def set_role(
    request: AuthRequest,
    accounts: NamedDependency[Accounts],
    user_id: UserIdPath,
    data: ClosedJSONBody[RoleRequest],
) -> Response[UserResponse]:
    """Never one's own role, the last active admin's, or a student's who holds licenses."""
    return answered(accounts, *accounts.set_role(user_id, data.role, by=actor_of(request)))


@post(
    "/api/v1/users/{user_id:int}/password",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Set a user's password (admins; the ledger records the reset, never the password)",
    responses=problems(400, *COMMON, 404, 409, 413, 415, described=DESCRIBED),
)
def reset_password(
    request: AuthRequest,
    accounts: NamedDependency[Accounts],
    user_id: UserIdPath,
    data: ClosedJSONBody[PasswordRequest],
) -> Response[UserResponse]:
    """Tokens issued before the reset are refused from now on (within the auth cache)."""
    user = accounts.reset_password(user_id, data.password, by=actor_of(request))
    return answered(accounts, user, True)


@get(
    "/api/v1/licenses",
    guards=ADMINS,
    sync_to_thread=True,
    tags=TAGS,
    summary="Every license, or those one student holds (admins)",
    responses=problems(400, *COMMON, described=DESCRIBED),
)
def list_licenses(
    accounts: NamedDependency[Accounts],
    holder_id: Annotated[
        int | None,
        Parameter(
            ge=1,
            le=MAX_LICENSE_ID,
            description="Only the licenses this user holds",
            schema_extra={"minimum": 1, "maximum": MAX_LICENSE_ID},
        ),
    ] = None,
) -> list[LicenseOut]:
    """Id, holder and creation time of each license, by id."""
    return [LicenseOut.of(held) for held in accounts.licenses(holder_id)]


@post(
    "/api/v1/licenses",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=201,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Issue a license to an active student (admins)",
    responses=problems(400, *COMMON, 409, 413, 415, described=DESCRIBED),
)
def issue_license(
    request: AuthRequest, accounts: NamedDependency[Accounts], data: ClosedJSONBody[HolderRequest]
) -> Response[LicenseResponse]:
    """A student may hold several licenses."""
    held = accounts.issue_license(data.holder_id, by=actor_of(request))
    body = LicenseResponse(success=True, changed=True, license=LicenseOut.of(held))
    return positioned(accounts, body, 201)


@get(
    "/api/v1/licenses/{license_id:int}",
    guards=ADMINS,
    sync_to_thread=True,
    tags=TAGS,
    summary="One license and its holder (admins)",
    responses=problems(400, *COMMON, 404, described=DESCRIBED),
)
def get_license(accounts: NamedDependency[Accounts], license_id: LicenseId) -> LicenseOut:
    """The license as the licenses table holds it."""
    return LicenseOut.of(accounts.get_license(license_id))


@post(
    "/api/v1/licenses/{license_id:int}/transfer",
    guards=ADMINS,
    sync_to_thread=True,
    status_code=200,
    opt={CARRIES_POSITION: True},
    tags=TAGS,
    summary="Hand a license to another active student; its assessments stay on it (admins)",
    responses=problems(400, *COMMON, 404, 409, 413, 415, described=DESCRIBED),
)
def transfer_license(
    request: AuthRequest,
    accounts: NamedDependency[Accounts],
    license_id: LicenseId,
    data: ClosedJSONBody[HolderRequest],
) -> Response[LicenseResponse]:
    """To the current holder records nothing."""
    held, changed = accounts.transfer_license(license_id, data.holder_id, by=actor_of(request))
    body = LicenseResponse(success=True, changed=changed, license=LicenseOut.of(held))
    return positioned(accounts, body)


ACCOUNT_ROUTES = [
    options_for("/api/v1/users", "GET", "POST"),
    options_for("/api/v1/licenses", "GET", "POST"),
    list_users,
    create_user,
    get_user,
    deactivate_user,
    activate_user,
    set_role,
    reset_password,
    list_licenses,
    issue_license,
    get_license,
    transfer_license,
]

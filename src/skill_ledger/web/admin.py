"""Admin pages: the validation queue (four eyes) and the accounts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from skill_ledger.accounts import Accounts
from skill_ledger.assessments import Assessments
from skill_ledger.domain import (
    Action,
    Actor,
    DuplicateEmail,
    InvalidAccount,
    LedgerError,
    NotFound,
    NotPermitted,
    OwnAccountForbidden,
    Role,
    check_role,
)
from skill_ledger.web.forms import form_of, whole_number
from skill_ledger.web.render import page, see_other
from skill_ledger.web.session import Sessions

QUEUE_LIMIT = 200


@get("/ui/queue", sync_to_thread=True)
def queue(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
) -> Response[Any]:
    """Oldest first, with age and the policy's reasons; no button on the viewer's own."""
    user = sessions.user(request)
    waiting = assessments.validation_queue(Actor(user.id, user.role), QUEUE_LIMIT)
    done = request.query_params.get("validated")
    return page(request, sessions, "queue.html", user, waiting=waiting, validated=done)


@post("/ui/queue/{assessment_id:uuid}/validate", sync_to_thread=True, status_code=303)
def validate(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    assessments: NamedDependency[Assessments],
    assessment_id: UUID,
) -> Response[Any]:
    """One click: ASSESSED → VALIDATED (the domain refuses the assessor: four eyes)."""
    user = sessions.user(request)
    answer = assessments.validate(Actor(user.id, user.role), assessment_id)
    return see_other(f"/ui/queue?validated={assessment_id}", request, answer.position)


def _manager(request: Request[Any, Any, Any], sessions: Sessions) -> Actor:
    """The signed-in admin (403 for other roles, before any form is read)."""
    user = sessions.user(request)
    check_role(user.role, Action.MANAGE_ACCOUNTS)
    return Actor(user.id, user.role)


def _accounts_page(
    request: Request[Any, Any, Any],
    sessions: Sessions,
    accounts: Accounts,
    *,
    status: int = 200,
    **context: Any,
) -> Response[Any]:
    user = sessions.user(request)
    check_role(user.role, Action.MANAGE_ACCOUNTS)
    return page(
        request,
        sessions,
        "accounts.html",
        user,
        status=status,
        users=accounts.users(),
        licenses=accounts.licenses(),
        roles=[role.value for role in Role],
        done=request.query_params.get("done"),
        **context,
    )


@get("/ui/accounts", sync_to_thread=True)
def account_list(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
) -> Response[Any]:
    """Every user: role, active; add one, deactivate one, change a role."""
    return _accounts_page(request, sessions, accounts)


@post("/ui/accounts", sync_to_thread=True, status_code=303)
def add_account(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
) -> Response[Any]:
    """A new user; the form again with the field named when a value is refused."""
    actor = _manager(request, sessions)
    values = form_of(request)
    kept = {key: values.get(key, "") for key in ("email", "name", "role")}
    try:
        added = accounts.add_user(
            values.get("email", ""),
            values.get("name", ""),
            values.get("role", ""),
            values.get("password", ""),
            by=actor,
        )
    except InvalidAccount as e:
        return _accounts_page(
            request, sessions, accounts, status=400, errors={e.field: e.reason}, values=kept
        )
    except DuplicateEmail as e:
        return _accounts_page(
            request, sessions, accounts, status=409, errors={"email": str(e)}, values=kept
        )
    return see_other(f"/ui/accounts?done=added+user+{added.id}")


@post("/ui/accounts/{user_id:int}/deactivate", sync_to_thread=True, status_code=303)
def deactivate(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
    user_id: int,
) -> Response[Any]:
    """Refuse the user's sign-ins and sessions from now on."""
    actor = _manager(request, sessions)
    try:
        accounts.deactivate(user_id, by=actor)
    except (NotFound, NotPermitted) as e:
        if not isinstance(e, OwnAccountForbidden):
            raise
        return _accounts_page(request, sessions, accounts, status=403, errors={"form": str(e)})
    except LedgerError as e:
        return _accounts_page(request, sessions, accounts, status=409, errors={"form": str(e)})
    return see_other(f"/ui/accounts?done=deactivated+user+{user_id}")


@post("/ui/accounts/{user_id:int}/role", sync_to_thread=True, status_code=303)
def change_role(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
    user_id: int,
) -> Response[Any]:
    """Another role for a user (the domain's rules: never oneself, never the last admin)."""
    actor = _manager(request, sessions)
    role = form_of(request).get("role", "")
    try:
        accounts.set_role(user_id, role, by=actor)
    except (NotFound, NotPermitted) as e:
        if not isinstance(e, OwnAccountForbidden):
            raise
        return _accounts_page(request, sessions, accounts, status=403, errors={"form": str(e)})
    except LedgerError as e:
        field = e.field if isinstance(e, InvalidAccount) else "form"
        return _accounts_page(request, sessions, accounts, status=409, errors={field: str(e)})
    return see_other(f"/ui/accounts?done=user+{user_id}+is+now+{role}")


@post("/ui/accounts/licenses", sync_to_thread=True, status_code=303)
def issue_license(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    accounts: NamedDependency[Accounts],
) -> Response[Any]:
    """A license for a student."""
    actor = _manager(request, sessions)
    values = form_of(request)
    try:
        holder = whole_number(values, "holder_id")
        info = accounts.issue_license(holder, by=actor)
    except NotPermitted:
        raise
    except LedgerError as e:
        field = getattr(e, "field", "holder_id")
        return _accounts_page(
            request, sessions, accounts, status=400, errors={field: str(e)}, values=values
        )
    return see_other(f"/ui/accounts?done=issued+license+{info.id}")


ROUTES = [queue, validate, account_list, add_account, deactivate, change_role, issue_license]

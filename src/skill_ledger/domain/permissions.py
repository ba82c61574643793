"""Who may do what: the one statement of the role rules, read by the domain and the API's guards."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType

from skill_ledger.domain.errors import NotPermitted, OwnAccountForbidden, SelfValidationForbidden
from skill_ledger.domain.vocabulary import Actor, Role


class Action(StrEnum):
    """Something a user asks the ledger to do."""

    ASSESS = "assess"
    VALIDATE = "validate"
    ARCHIVE = "archive"
    READ = "read"
    AUDIT = "audit"
    MANAGE_ACCOUNTS = "manage_accounts"
    PROVE = "prove"
    RECEIPT = "receipt"
    DISPUTE = "dispute"
    RESOLVE = "resolve"
    READ_DISPUTES = "read_disputes"


ROLES: Mapping[Action, frozenset[Role]] = MappingProxyType(
    {
        Action.ASSESS: frozenset({Role.ADMIN, Role.INSTRUCTOR}),
        Action.VALIDATE: frozenset({Role.ADMIN}),
        Action.ARCHIVE: frozenset({Role.ADMIN, Role.INSTRUCTOR}),
        Action.READ: frozenset(Role),
        Action.AUDIT: frozenset({Role.ADMIN, Role.AUDITOR}),
        Action.MANAGE_ACCOUNTS: frozenset({Role.ADMIN}),
        Action.PROVE: frozenset({Role.ADMIN, Role.AUDITOR}),
        Action.RECEIPT: frozenset({Role.ADMIN, Role.AUDITOR, Role.STUDENT}),
        Action.DISPUTE: frozenset({Role.STUDENT}),
        Action.RESOLVE: frozenset({Role.ADMIN}),
        Action.READ_DISPUTES: frozenset({Role.ADMIN, Role.AUDITOR, Role.STUDENT}),
    }
)
REFUSALS: Mapping[Action, str] = MappingProxyType(
    {
        Action.ASSESS: "Role {role} cannot assess",
        Action.VALIDATE: "Role {role} cannot validate; only admins can",
        Action.ARCHIVE: "Only admins and the assessing instructor can archive an assessment",
        Action.READ: "Role {role} cannot read assessments",
        Action.AUDIT: "Role {role} cannot read the audit trail; only admins and auditors can",
        Action.MANAGE_ACCOUNTS: "Role {role} cannot manage users or licenses; only admins can",
        Action.PROVE: "Role {role} cannot read the log's proofs; only admins and auditors can",
        Action.RECEIPT: "Role {role} cannot fetch receipts; admins, auditors and the holder can",
        Action.DISPUTE: "Role {role} cannot dispute; only the license's holder can",
        Action.RESOLVE: "Role {role} cannot resolve disputes; only admins can",
        Action.READ_DISPUTES: "Role {role} cannot list disputes",
    }
)


def check_role(role: Role, action: Action) -> None:
    """NotPermitted unless the role may take this action at all."""
    if role not in ROLES[action]:
        raise NotPermitted(REFUSALS[action].format(role=role.value))


def check_may_validate(actor: Actor, assessor: int) -> None:
    """Only admins validate, and never their own assessment (four eyes)."""
    check_role(actor.role, Action.VALIDATE)
    if assessor == actor.user_id:
        raise SelfValidationForbidden("An assessor cannot validate their own assessment")


def check_may_dispute(actor: Actor, holder: int | None) -> None:
    """Only the holder of the assessment's license disputes it."""
    check_role(actor.role, Action.DISPUTE)
    if holder != actor.user_id:
        raise NotPermitted("Only the license's holder can dispute its assessments")


def check_may_resolve(actor: Actor, assessor: int, validator: int | None) -> None:
    """Only an admin who neither made nor validated the assessment resolves its dispute."""
    check_role(actor.role, Action.RESOLVE)
    if actor.user_id in (assessor, validator):
        raise SelfValidationForbidden(
            "A dispute must be resolved by an admin who neither assessed nor validated it"
        )


def check_may_archive(actor: Actor, assessor: int) -> None:
    """Admins archive anything; instructors only the assessments they made."""
    check_role(actor.role, Action.ARCHIVE)
    if actor.role is Role.INSTRUCTOR and assessor != actor.user_id:
        raise NotPermitted(REFUSALS[Action.ARCHIVE])


def check_may_read_license(
    actor: Actor, license_id: int, holder_of: Callable[[int], int | None]
) -> None:
    """Students read only the licenses they hold (asked of `holder_of`); other roles read all."""
    if actor.role is not Role.STUDENT:
        return
    holder = holder_of(license_id)
    if holder is not None and holder != actor.user_id:
        raise NotPermitted("Students can read only the licenses they hold")


def check_may_manage_accounts(actor: Actor | None) -> None:
    """Only admins manage users and licenses; None is an operator at the `ledger` command."""
    if actor is not None:
        check_role(actor.role, Action.MANAGE_ACCOUNTS)


def check_not_own_account(actor: Actor | None, user_id: int, change: str) -> None:
    """An admin cannot deactivate or re-role their own account: another admin must."""
    if actor is not None and actor.user_id == user_id:
        raise OwnAccountForbidden(f"Admins cannot {change} their own account; ask another admin")


def check_may_fetch_receipt(
    actor: Actor, license_id: int, holder_of: Callable[[int], int | None]
) -> None:
    """Admins and auditors fetch any receipt; a student only those of licenses they hold."""
    check_role(actor.role, Action.RECEIPT)
    if actor.role is Role.STUDENT and holder_of(license_id) != actor.user_id:
        raise NotPermitted("Students can fetch receipts only of assessments on licenses they hold")

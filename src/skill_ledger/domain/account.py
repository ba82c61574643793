"""Accounts in the ledger: one stream per user and one per license, their events and their rows.

Each event is declared once, here: its fields, its stored topic and its `TableEffect` on its row
of `users` or `licenses`. The tables, their rebuild and the auditor's replay derive from that
declaration. Password hashes are secrets: no event carries one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from skill_ledger.domain.chain import GENESIS_HASH, ChainedAggregate
from skill_ledger.domain.errors import AccountConflict, InvalidAccount
from skill_ledger.domain.permissions import check_may_manage_accounts, check_not_own_account
from skill_ledger.domain.vocabulary import (
    MIGRATION,
    OPERATOR,
    Actor,
    Role,
    license_stream_id,
    user_stream_id,
)

TOPIC_MODULE = "skill_ledger.domain"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRow:
    """A user as the users table shows it (the password hash is nobody's event).

    `tokens_valid_after` is when the account was last deactivated or its password reset:
    bearer tokens issued before then are refused, even once the account is active again.
    """

    id: int
    email: str
    name: str
    role: Role
    active: bool
    tokens_valid_after: datetime | None = None

    def accepts_token_issued_at(self, issued_at: datetime) -> bool:
        """Tokens carry whole seconds: one issued in the second of a revocation still counts."""
        cutoff = self.tokens_valid_after
        return cutoff is None or issued_at >= cutoff.replace(microsecond=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseRow:
    """A license as the licenses table shows it: who holds it."""

    id: int
    holder_id: int


AccountRow = UserRow | LicenseRow


@dataclass(frozen=True, slots=True)
class TableEffect:
    """How an account event changes its row of users or licenses.

    `row` is the row type (and so the table); `key` the event field holding the row's id;
    `actor` the event field naming who acted (null: an operator at the `ledger` command, or the
    migration); `columns` maps row fields to the event fields they take; `values` sets row
    fields to constants; `creates` says the event opens the row (then every field is given).
    """

    row: type[UserRow] | type[LicenseRow]
    key: str
    actor: str
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    creates: bool = False

    def __post_init__(self) -> None:
        """A column the row lacks, or a creation that leaves one unset, fails at declaration."""
        names = {f.name for f in dataclasses.fields(self.row)}
        given = set(self.columns) | set(self.values)
        if given - names or (self.creates and given != names):
            raise TypeError(
                f"TableEffect on {self.row.__name__} sets {sorted(given)}, not its fields"
            )

    def changes(self, event: Any) -> dict[str, Any]:
        """The row fields this event sets (attribute access only)."""
        return {**{c: getattr(event, s) for c, s in self.columns.items()}, **self.values}

    def apply(self, row: Any, event: Any) -> Any:
        """The row after the event; KeyError when the event needs a row that is not there."""
        if self.creates:
            return self.row(**self.changes(event))
        if row is None:
            raise KeyError(getattr(event, self.key))
        return dataclasses.replace(row, **self.changes(event))


@dataclass(slots=True)
class AccountRows:
    """The users and licenses tables as the account events give them (the projection, pure)."""

    users: dict[int, UserRow] = field(default_factory=dict)
    licenses: dict[int, LicenseRow] = field(default_factory=dict)

    def table_of(self, row_type: type[Any]) -> dict[int, Any]:
        """The rows of one type (users or licenses)."""
        return self.users if row_type is UserRow else self.licenses

    def apply(self, event: Any) -> AccountRow:
        """Fold one account event; KeyError when it changes a row no earlier event opened."""
        effect: TableEffect = event.effect
        table = self.table_of(effect.row)
        key = getattr(event, effect.key)
        row: AccountRow = effect.apply(table.get(key), event)
        table[key] = row
        return row


def actor_role(by: Actor | None) -> str:
    """The role recorded for who made an account change (an operator when no user did)."""
    return by.role.value if by is not None else OPERATOR


def actor_id(by: Actor | None) -> int | None:
    """The user id recorded for who made an account change (None for an operator)."""
    return by.user_id if by is not None else None


class UserAccount(ChainedAggregate):
    """One user's account: registered, role changes, deactivations and password resets."""

    row: UserRow | None

    @classmethod
    def start(cls, user_id: int, *, at: datetime | None = None) -> UserAccount:
        """An empty account stream, not yet stored: its first event will be version 1."""
        account = cls.__new__(cls)
        account.__base_init__(user_stream_id(user_id), 0, at or cls.Event.create_timestamp())
        account.row = None
        account.last_hash = GENESIS_HASH
        return account

    class Event(ChainedAggregate.Event):
        """Base of a user's events: each names the user and declares its `TableEffect`."""

        EFFECT = TableEffect
        effect: ClassVar[TableEffect]

        user_id: int

    class Registered(Event):
        """The user was created with an email, a name and a role (active)."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.Registered"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="registered_by",
            creates=True,
            columns=MappingProxyType(
                {"id": "user_id", "email": "email", "name": "name", "role": "role"}
            ),
            values=MappingProxyType({"active": True, "tokens_valid_after": None}),
        )

        email: str
        name: str
        role: Role
        registered_by: int | None

        def mutate(self, aggregate: Any) -> Any:
            """The registration opens the account's stream."""
            if aggregate is None:
                aggregate = UserAccount.start(self.user_id, at=self.timestamp)
            return super().mutate(aggregate)

    class RoleChanged(Event):
        """The user was given another role."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.RoleChanged"
        effect = TableEffect(
            UserRow, key="user_id", actor="changed_by", columns=MappingProxyType({"role": "role"})
        )

        role: Role
        changed_by: int | None

    class Deactivated(Event):
        """The user can no longer log in; every token issued so far stops working for good."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.Deactivated"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="deactivated_by",
            columns=MappingProxyType({"tokens_valid_after": "timestamp"}),
            values=MappingProxyType({"active": False}),
        )

        deactivated_by: int | None

    class Reactivated(Event):
        """A deactivated user may log in again."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.Reactivated"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="reactivated_by",
            values=MappingProxyType({"active": True}),
        )

        reactivated_by: int | None

    class PasswordReset(Event):
        """The user's password was set by someone else (never the hash); older tokens stop."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.PasswordReset"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="reset_by",
            columns=MappingProxyType({"tokens_valid_after": "timestamp"}),
        )

        reset_by: int | None

    # -- commands ---------------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        user_id: int,
        email: str,
        name: str,
        role: Role,
        by: Actor | None,
        *,
        at: datetime | None = None,
    ) -> UserAccount:
        """A new account (admins, or an operator); the email and name are checked first."""
        check_may_manage_accounts(by)
        email, name = check_email(email), check_name(name)
        account = cls.start(user_id, at=at)
        account._trigger(
            cls.Registered,
            actor_role(by),
            at=at,
            user_id=user_id,
            email=email,
            name=name,
            role=role,
            registered_by=actor_id(by),
        )
        return account

    @classmethod
    def opening(cls, row: UserRow, *, at: datetime) -> UserAccount:
        """The opening events of an account that predates them, as the migration writes them."""
        account = cls.start(row.id, at=at)
        account._trigger(
            cls.Registered,
            MIGRATION,
            at=at,
            user_id=row.id,
            email=row.email,
            name=row.name,
            role=row.role,
            registered_by=None,
        )
        if not row.active:
            account._trigger(cls.Deactivated, MIGRATION, at=at, user_id=row.id, deactivated_by=None)
        return account

    def deactivate(self, by: Actor | None, *, active_admins: int) -> bool:
        """Refuse the user from now on; False when already inactive (nothing recorded)."""
        check_may_manage_accounts(by)
        user = self.user
        check_not_own_account(by, user.id, "deactivate")
        if not user.active:
            return False
        self._check_keeps_an_admin(active_admins, "deactivate")
        self._trigger(
            self.Deactivated, actor_role(by), user_id=user.id, deactivated_by=actor_id(by)
        )
        return True

    def reactivate(self, by: Actor | None) -> bool:
        """Let the user in again; False when already active (nothing recorded)."""
        check_may_manage_accounts(by)
        user = self.user
        if user.active:
            return False
        self._trigger(
            self.Reactivated, actor_role(by), user_id=user.id, reactivated_by=actor_id(by)
        )
        return True

    def change_role(
        self, role: Role, by: Actor | None, *, active_admins: int, licenses_held: Sequence[int]
    ) -> bool:
        """Give the user another role; False when it is their role already (nothing recorded)."""
        check_may_manage_accounts(by)
        user = self.user
        check_not_own_account(by, user.id, "change the role of")
        if role is user.role:
            return False
        if user.role is Role.ADMIN:
            self._check_keeps_an_admin(active_admins, "demote")
        if user.role is Role.STUDENT and licenses_held:
            held = ", ".join(map(str, licenses_held))
            raise AccountConflict(
                f"User {user.id} holds licenses {held}: transfer them to another student first"
            )
        self._trigger(
            self.RoleChanged, actor_role(by), user_id=user.id, role=role, changed_by=actor_id(by)
        )
        return True

    def reset_password(self, by: Actor | None) -> None:
        """Record that the password was reset (the new hash goes to the table only)."""
        check_may_manage_accounts(by)
        self._trigger(
            self.PasswordReset, actor_role(by), user_id=self.user.id, reset_by=actor_id(by)
        )

    # -- state ----------------------------------------------------------------------------

    @property
    def user(self) -> UserRow:
        """The account as it stands (a stored account always has its registration)."""
        assert self.row is not None, "an account stream starts with Registered"
        return self.row

    def evolve(self, event: UserAccount.Event) -> None:
        """Apply the event's effect to the account's row."""
        self.row = event.effect.apply(self.row, event)

    def _check_keeps_an_admin(self, active_admins: int, change: str) -> None:
        user = self.user
        if user.role is Role.ADMIN and user.active and active_admins <= 1:
            raise AccountConflict(
                f"Cannot {change} user {user.id}: they are the last active admin; "
                "make another admin first"
            )


class License(ChainedAggregate):
    """One license: issued to a student, perhaps transferred to another; its assessments stay."""

    row: LicenseRow | None

    @classmethod
    def start(cls, license_id: int, *, at: datetime | None = None) -> License:
        """An empty license stream, not yet stored: its first event will be version 1."""
        issued = cls.__new__(cls)
        issued.__base_init__(license_stream_id(license_id), 0, at or cls.Event.create_timestamp())
        issued.row = None
        issued.last_hash = GENESIS_HASH
        return issued

    class Event(ChainedAggregate.Event):
        """Base of a license's events: each names the license and declares its `TableEffect`."""

        EFFECT = TableEffect
        effect: ClassVar[TableEffect]

        license_id: int

    class Issued(Event):
        """The license was created, held by a student."""

        TOPIC = f"{TOPIC_MODULE}:License.Issued"
        effect = TableEffect(
            LicenseRow,
            key="license_id",
            actor="issued_by",
            creates=True,
            columns=MappingProxyType({"id": "license_id", "holder_id": "holder_id"}),
        )

        holder_id: int
        issued_by: int | None

        def mutate(self, aggregate: Any) -> Any:
            """The issue opens the license's stream."""
            if aggregate is None:
                aggregate = License.start(self.license_id, at=self.timestamp)
            return super().mutate(aggregate)

    class Transferred(Event):
        """Another student holds the license now; its assessments stay on it."""

        TOPIC = f"{TOPIC_MODULE}:License.Transferred"
        effect = TableEffect(
            LicenseRow,
            key="license_id",
            actor="transferred_by",
            columns=MappingProxyType({"holder_id": "holder_id"}),
        )

        holder_id: int
        previous_holder_id: int
        transferred_by: int | None

    @classmethod
    def issue(
        cls, license_id: int, holder: UserRow, by: Actor | None, *, at: datetime | None = None
    ) -> License:
        """A new license held by an active student."""
        check_may_manage_accounts(by)
        check_holder(holder)
        issued = cls.start(license_id, at=at)
        issued._trigger(
            cls.Issued,
            actor_role(by),
            at=at,
            license_id=license_id,
            holder_id=holder.id,
            issued_by=actor_id(by),
        )
        return issued

    @classmethod
    def opening(cls, row: LicenseRow, *, at: datetime) -> License:
        """The opening event of a license that predates it, as the migration writes it."""
        issued = cls.start(row.id, at=at)
        issued._trigger(
            cls.Issued, MIGRATION, at=at, license_id=row.id, holder_id=row.holder_id, issued_by=None
        )
        return issued

    def transfer(self, to: UserRow, by: Actor | None) -> bool:
        """Hand the license to another active student; False when they hold it already."""
        check_may_manage_accounts(by)
        license_ = self.license
        if to.id == license_.holder_id:
            return False
        check_holder(to)
        self._trigger(
            self.Transferred,
            actor_role(by),
            license_id=license_.id,
            holder_id=to.id,
            previous_holder_id=license_.holder_id,
            transferred_by=actor_id(by),
        )
        return True

    @property
    def license(self) -> LicenseRow:
        """The license as it stands (a stored license always has its issue)."""
        assert self.row is not None, "a license stream starts with Issued"
        return self.row

    def evolve(self, event: License.Event) -> None:
        """Apply the event's effect to the license's row."""
        self.row = event.effect.apply(self.row, event)


ACCOUNT_EVENTS: tuple[type[UserAccount.Event] | type[License.Event], ...] = (
    UserAccount.Registered,
    UserAccount.RoleChanged,
    UserAccount.Deactivated,
    UserAccount.Reactivated,
    UserAccount.PasswordReset,
    License.Issued,
    License.Transferred,
)
"""Every event of an account or a license, in declaration order."""


def check_holder(holder: UserRow) -> None:
    """Licenses are held by active students."""
    if holder.role is not Role.STUDENT or not holder.active:
        state = "an inactive " if not holder.active else "an "
        raise AccountConflict(
            f"Licenses are held by active students; user {holder.id} is {state}{holder.role.value}"
        )


def check_email(email: str) -> str:
    """The email stripped; InvalidAccount unless it looks like an address."""
    email = email.strip()
    if not EMAIL.match(email) or len(email) > MAX_EMAIL_LENGTH or "\x00" in email:
        raise InvalidAccount("email", f"not a valid address: {email!r}")
    return email


def check_name(name: str) -> str:
    """The name stripped; InvalidAccount unless 1 to 200 characters without NUL."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise InvalidAccount("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
    return name


def check_password(password: str) -> None:
    """InvalidAccount unless 8 to 1024 characters."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidAccount(
            "password", f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


def parse_role(value: str | Role) -> Role:
    """A Role from its name; InvalidAccount otherwise."""
    if isinstance(value, Role):
        return value
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidAccount("role", f"must be one of {allowed}, got {value!r}") from None

"""Accounts in the ledger: the rows their events give, and how each event changes its row.

Users (`user.py`) and licenses (`license.py`) are aggregates with a stream each; every one of
their events declares a `TableEffect` on its row of `users` or `licenses`. The tables, their
rebuild and the auditor's replay derive from those declarations. Password hashes are secrets:
no event carries one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from skill_ledger.domain.errors import InvalidAccount
from skill_ledger.domain.vocabulary import OPERATOR, Actor, Role

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

"""The users and licenses tables: their SQL, and rows written exactly as the account events give.

The columns the events decide are the fields of the domain's `UserRow` and `LicenseRow`; the
tables also keep what no event may carry (the password hash) or need not (created_at).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from skill_ledger.database import Cursor, as_optional_time, as_time
from skill_ledger.domain import AccountRow, AccountRows, LicenseRow, Role, UserRow

USERS, LICENSES = "users", "licenses"
TABLES: dict[type[Any], str] = {UserRow: USERS, LicenseRow: LICENSES}
FIELDS: dict[type[Any], tuple[str, ...]] = {
    row: tuple(f.name for f in dataclasses.fields(row)) for row in TABLES
}
"""The columns the events decide, per row type (id first)."""
USER_COLUMNS = "id, email, name, role, active, created_at, tokens_valid_after"
LICENSE_SELECT = (
    "SELECT l.id, l.holder_id, u.email, l.created_at FROM licenses AS l "
    "JOIN users AS u ON u.id = l.holder_id"
)
ACCOUNTS_LOCK = int.from_bytes(hashlib.sha256(b"ledger-accounts").digest()[:8], "big", signed=True)
"""Writers of these tables take turns: the last-admin rule counts admins across users."""
UNUSABLE_HASH = "!"
"""The password hash of an account a rebuild re-created: no password matches it."""


@dataclass(frozen=True, slots=True)
class User:
    """An account, without its password hash."""

    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    tokens_valid_after: datetime | None = None

    def row(self) -> UserRow:
        """The columns the events decide."""
        return UserRow(
            id=self.id,
            email=self.email,
            name=self.name,
            role=self.role,
            active=self.active,
            tokens_valid_after=self.tokens_valid_after,
        )


@dataclass(frozen=True, slots=True)
class LicenseInfo:
    """A license, the email of the student holding it, and when it was issued."""

    id: int
    holder_id: int
    holder_email: str
    created_at: datetime


def user_of(row: Sequence[Any]) -> User:
    """A users row (USER_COLUMNS order)."""
    return User(
        id=int(row[0]),
        email=str(row[1]),
        name=str(row[2]),
        role=Role(row[3]),
        active=bool(row[4]),
        created_at=as_time(row[5]),
        tokens_valid_after=as_optional_time(row[6]),
    )


def license_of(row: Sequence[Any]) -> LicenseInfo:
    """A row of LICENSE_SELECT."""
    return LicenseInfo(int(row[0]), int(row[1]), str(row[2]), as_time(row[3]))


def select_user(cursor: Cursor, user_id: int) -> User | None:
    """A user by id."""
    cursor.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
    row = cursor.fetchone()
    return user_of(row) if row else None


def find_user(cursor: Cursor, email: str) -> User | None:
    """A user by email (case-insensitive)."""
    cursor.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower(%s)", (email.strip(),)
    )
    row = cursor.fetchone()
    return user_of(row) if row else None


def select_users(cursor: Cursor) -> list[User]:
    """Every user, by id."""
    cursor.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")
    return [user_of(row) for row in cursor.fetchall()]


def select_license(cursor: Cursor, license_id: int) -> LicenseInfo | None:
    """One license and its holder's email."""
    cursor.execute(f"{LICENSE_SELECT} WHERE l.id = %s", (license_id,))
    row = cursor.fetchone()
    return license_of(row) if row else None


def select_licenses(cursor: Cursor, holder_id: int | None = None) -> list[LicenseInfo]:
    """Every license (or those one user holds), by id."""
    if holder_id is None:
        cursor.execute(f"{LICENSE_SELECT} ORDER BY l.id")
    else:
        cursor.execute(f"{LICENSE_SELECT} WHERE l.holder_id = %s ORDER BY l.id", (holder_id,))
    return [license_of(row) for row in cursor.fetchall()]


def licenses_held(cursor: Cursor, user_id: int) -> list[int]:
    """Ids of the licenses a user holds, oldest first."""
    cursor.execute("SELECT id FROM licenses WHERE holder_id = %s ORDER BY id", (user_id,))
    return [int(row[0]) for row in cursor.fetchall()]


def active_admins(cursor: Cursor) -> int:
    """How many admins may log in."""
    cursor.execute("SELECT COUNT(*) FROM users WHERE role = %s AND active", (Role.ADMIN.value,))
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _values(row: AccountRow) -> list[Any]:
    return [
        value.value if isinstance(value, StrEnum) else value
        for value in (getattr(row, name) for name in FIELDS[type(row)])
    ]


def insert_row(cursor: Cursor, row: AccountRow, **kept: Any) -> None:
    """A new row: the event-given columns, and those the table keeps (hash, created_at)."""
    columns = [*FIELDS[type(row)], *kept]
    cursor.execute(
        f"INSERT INTO {TABLES[type(row)]} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})",
        [*_values(row), *kept.values()],
    )


def update_row(cursor: Cursor, row: AccountRow) -> None:
    """Set the event-given columns of an existing row (the others are kept)."""
    id_, *values = _values(row)
    columns = FIELDS[type(row)][1:]
    cursor.execute(
        f"UPDATE {TABLES[type(row)]} SET {', '.join(f'{c} = %s' for c in columns)} WHERE id = %s",
        [*values, id_],
    )


def delete_row(cursor: Cursor, row_type: type[Any], row_id: int) -> None:
    """Remove a row (a rebuild removing one that no event gives)."""
    cursor.execute(f"DELETE FROM {TABLES[row_type]} WHERE id = %s", (row_id,))


def set_password_hash(cursor: Cursor, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash."""
    cursor.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def read_rows(cursor: Cursor) -> AccountRows:
    """Both tables' event-given columns, as rows (for verification and rebuilds)."""
    rows = AccountRows()
    cursor.execute(f"SELECT {', '.join(FIELDS[UserRow])} FROM users")
    for id_, email, name, role, active, tokens_valid_after in cursor.fetchall():
        rows.users[int(id_)] = UserRow(
            id=int(id_),
            email=email,
            name=name,
            role=Role(role),
            active=bool(active),
            tokens_valid_after=as_optional_time(tokens_valid_after),
        )
    cursor.execute(f"SELECT {', '.join(FIELDS[LicenseRow])} FROM licenses")
    for id_, holder_id in cursor.fetchall():
        rows.licenses[int(id_)] = LicenseRow(id=int(id_), holder_id=int(holder_id))
    return rows

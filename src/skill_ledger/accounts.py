"""Users (argon2 hashes, roles) and licenses: reference data kept in plain tables."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from skill_ledger.database import Cursor, Database, as_time
from skill_ledger.domain import Role

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
MIN_PASSWORD_LENGTH = 8
USER_COLUMNS = "id, email, name, role, active, created_at"
RECENT_USERS = 10_000


class AccountError(Exception):
    """Base class of account errors."""


class DuplicateEmail(AccountError):
    """Another user already has this email (compared case-insensitively)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"A user with email {email!r} already exists")
        self.email = email


class InvalidAccount(AccountError):
    """An account field is malformed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UserNotFound(AccountError):
    """No user matches."""

    def __init__(self, who: str) -> None:
        super().__init__(f"No user {who}")
        self.who = who


@dataclass(frozen=True, slots=True)
class User:
    """An account, without its password hash."""

    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory: t=3, m=64 MiB, p=4)."""
    return PasswordHasher()


def parse_role(value: str) -> Role:
    """A Role from its name; InvalidAccount otherwise."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidAccount("role", f"must be one of {allowed}, got {value!r}") from None


def _user(row: Sequence[Any]) -> User:
    return User(
        id=int(row[0]),
        email=str(row[1]),
        name=str(row[2]),
        role=Role(row[3]),
        active=bool(row[4]),
        created_at=as_time(row[5]),
    )


class Accounts:
    """Creating users and licenses, and checking passwords."""

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self.hasher = hasher or default_hasher()
        self._dummy_hash: str | None = None
        self._recent: dict[int, tuple[float, User | None]] = {}

    def add_user(self, email: str, name: str, role: Role | str, password: str) -> User:
        """Create a user; DuplicateEmail or InvalidAccount on bad input."""
        email = email.strip()
        name = name.strip()
        role = parse_role(role) if isinstance(role, str) else role
        if not EMAIL.match(email) or len(email) > MAX_EMAIL_LENGTH or "\x00" in email:
            raise InvalidAccount("email", f"not a valid address: {email!r}")
        if not name or len(name) > MAX_NAME_LENGTH or "\x00" in name:
            raise InvalidAccount("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidAccount("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = self.hasher.hash(password)
        now = datetime.now(UTC)
        with self.db.transaction() as cursor:
            if self._email_taken(cursor, email):
                raise DuplicateEmail(email)
            try:
                cursor.execute(
                    "INSERT INTO users (email, name, role, password_hash, active, created_at) "
                    f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {USER_COLUMNS}",
                    (email, name, role.value, password_hash, True, now),
                )
            except self.db.integrity_errors:
                raise DuplicateEmail(email) from None
            row = cursor.fetchone()
        return _user(row)

    @staticmethod
    def _email_taken(cursor: Cursor, email: str) -> bool:
        cursor.execute("SELECT 1 FROM users WHERE lower(email) = lower(%s)", (email,))
        return cursor.fetchone() is not None

    def authenticate(self, email: str, password: str) -> User | None:
        """The active user with these credentials, or None (same work for unknown emails)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower(%s)",
                (email.strip(),),
            )
            row = cursor.fetchone()
        if row is None and self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not-a-real-password")
        stored = row[6] if row else self._dummy_hash
        assert stored is not None
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        user = _user(row[:6])
        return user if user.active else None

    def get_user(self, user_id: int) -> User | None:
        """A user by id."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
            row = cursor.fetchone()
        return _user(row) if row else None

    def recently_seen(self, user_id: int, max_age: float) -> tuple[bool, User | None]:
        """(True, the active user or None) when looked up less than max_age seconds ago."""
        hit = self._recent.get(user_id)
        if hit is not None and time.monotonic() - hit[0] < max_age:
            return True, hit[1]
        return False, None

    def active_user(self, user_id: int) -> User | None:
        """The user while the account is active (remembered for recently_seen)."""
        user = self.get_user(user_id)
        active = user if user is not None and user.active else None
        if len(self._recent) >= RECENT_USERS:
            self._recent.clear()
        self._recent[user_id] = (time.monotonic(), active)
        return active

    def find_user(self, email: str) -> User | None:
        """A user by email (case-insensitive)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower(%s)", (email.strip(),)
            )
            row = cursor.fetchone()
        return _user(row) if row else None

    def set_active(self, user_id: int, active: bool) -> None:
        """Activate or deactivate a user."""
        with self.db.transaction() as cursor:
            cursor.execute("UPDATE users SET active = %s WHERE id = %s", (active, user_id))
            if cursor.rowcount == 0:
                raise UserNotFound(f"with id {user_id}")
        self._recent.pop(user_id, None)

    def add_license(self, holder_email: str) -> int:
        """Create a license held by the user with this email; returns its id."""
        holder = self.find_user(holder_email)
        if holder is None:
            raise UserNotFound(f"with email {holder_email!r}")
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO licenses (holder_id, created_at) VALUES (%s, %s) RETURNING id",
                (holder.id, datetime.now(UTC)),
            )
            row = cursor.fetchone()
        return int(row[0])

    def licenses_held_by(self, user_id: int) -> list[int]:
        """Ids of the licenses a user holds, oldest first."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT id FROM licenses WHERE holder_id = %s ORDER BY id", (user_id,))
            rows = cursor.fetchall()
        return [int(row[0]) for row in rows]

    def license_holder(self, license_id: int) -> int | None:
        """The user id holding a license, None when the license does not exist."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT holder_id FROM licenses WHERE id = %s", (license_id,))
            row = cursor.fetchone()
        return int(row[0]) if row else None

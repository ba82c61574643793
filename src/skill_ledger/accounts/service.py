"""Account commands and queries: every change is an event in the ledger, its row written with it.

A command takes the accounts lock, loads the stream (user or license) from the event store,
lets the domain decide, writes the changed row, then appends the events, all in one
transaction: the row can never be seen without its event, and login, token checks and the
license checks of commands see a change as soon as its command returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from skill_ledger.accounts import tables
from skill_ledger.accounts.rebuild import AccountRebuild, rebuild_accounts
from skill_ledger.accounts.tables import ACCOUNTS_LOCK, LICENSES, USERS, LicenseInfo, User
from skill_ledger.database import Cursor, Database
from skill_ledger.domain import (
    AccountConflict,
    Actor,
    ChainedAggregate,
    DuplicateEmail,
    InvalidAccount,
    License,
    LicenseNotFound,
    Role,
    UserAccount,
    UserNotFound,
    check_password,
    license_stream_id,
    parse_role,
    user_stream_id,
)
from skill_ledger.domain.account import check_email, check_name
from skill_ledger.domain.permissions import check_may_manage_accounts
from skill_ledger.eventstore.log import EventLog
from skill_ledger.eventstore.transcoder import MsgspecTranscoder, TypedMapper

log = structlog.get_logger("skill_ledger.accounts")

RECENT_USERS = 10_000


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory: t=3, m=64 MiB, p=4)."""
    return PasswordHasher()


class Accounts:
    """Users and licenses: commands recorded in the ledger, password checks, lookups."""

    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher | None = None,
        *,
        eventlog: EventLog | None = None,
    ) -> None:
        self.db = db
        self.hasher = hasher or default_hasher()
        self.eventlog = eventlog or EventLog(db, TypedMapper(transcoder=MsgspecTranscoder()))
        self._dummy_hash: str | None = None
        self._recent: dict[int, tuple[float, User | None]] = {}

    # -- commands on users ----------------------------------------------------------------

    def log_head(self) -> int:
        """The log's last position: a consistency token covering every command answered so far."""
        with self.db.transaction(write=False) as cursor:
            return self.eventlog.max_position(cursor)

    def add_user(
        self, email: str, name: str, role: Role | str, password: str, *, by: Actor | None = None
    ) -> User:
        """Create a user; DuplicateEmail or InvalidAccount on bad input."""
        check_may_manage_accounts(by)
        email, name, role = check_email(email), check_name(name), parse_role(role)
        check_password(password)
        password_hash = self.hasher.hash(password)  # slow: before the transaction
        with self._changing() as cursor:
            if tables.find_user(cursor, email) is not None:
                raise DuplicateEmail(email)
            account = UserAccount.register(self.db.next_id(cursor, USERS), email, name, role, by)
            self._save(cursor, account, password_hash=password_hash, created_at=_now())
            return self._user(cursor, account.user.id)

    def deactivate(self, user_id: int, *, by: Actor | None = None) -> tuple[User, bool]:
        """Refuse the user's logins and tokens; (the user, whether anything was recorded)."""
        with self._changing() as cursor:
            account = self._load_user(cursor, user_id)
            changed = account.deactivate(by, active_admins=tables.active_admins(cursor))
            return self._saved(cursor, account, changed)

    def activate(self, user_id: int, *, by: Actor | None = None) -> tuple[User, bool]:
        """Let a deactivated user in again; (the user, whether anything was recorded)."""
        with self._changing() as cursor:
            account = self._load_user(cursor, user_id)
            changed = account.reactivate(by)
            return self._saved(cursor, account, changed)

    def set_active(self, user_id: int, active: bool, *, by: Actor | None = None) -> None:
        """Activate or deactivate a user."""
        if active:
            self.activate(user_id, by=by)
        else:
            self.deactivate(user_id, by=by)

    def set_role(
        self, user_id: int, role: Role | str, *, by: Actor | None = None
    ) -> tuple[User, bool]:
        """Give a user another role; (the user, whether anything was recorded)."""
        role = parse_role(role)
        with self._changing() as cursor:
            account = self._load_user(cursor, user_id)
            changed = account.change_role(
                role,
                by,
                active_admins=tables.active_admins(cursor),
                licenses_held=tables.licenses_held(cursor, user_id),
            )
            return self._saved(cursor, account, changed)

    def reset_password(self, user_id: int, password: str, *, by: Actor | None = None) -> User:
        """Set a user's password; the event records who did it, never the hash."""
        check_may_manage_accounts(by)
        check_password(password)
        password_hash = self.hasher.hash(password)
        with self._changing() as cursor:
            account = self._load_user(cursor, user_id)
            account.reset_password(by)
            tables.set_password_hash(cursor, user_id, password_hash)
            user, _ = self._saved(cursor, account, True)
        return user

    # -- commands on licenses -------------------------------------------------------------

    def add_license(self, holder_email: str, *, by: Actor | None = None) -> int:
        """Create a license held by the (active student) user with this email; its id."""
        holder = self.find_user(holder_email)
        if holder is None:
            raise UserNotFound(f"with email {holder_email!r}")
        return self.issue_license(holder.id, by=by).id

    def issue_license(self, holder_id: int, *, by: Actor | None = None) -> LicenseInfo:
        """Create a license held by an active student."""
        with self._changing() as cursor:
            holder = self._holder(cursor, holder_id)
            issued = License.issue(self.db.next_id(cursor, LICENSES), holder.row(), by)
            self._save(cursor, issued, created_at=_now())
            return self._license(cursor, issued.license.id)

    def transfer_license(
        self, license_id: int, holder_id: int, *, by: Actor | None = None
    ) -> tuple[LicenseInfo, bool]:
        """Hand a license to another active student (its assessments stay on it)."""
        with self._changing() as cursor:
            held = self._load_license(cursor, license_id)
            changed = held.transfer(self._holder(cursor, holder_id).row(), by)
            if changed:
                self._save(cursor, held)
            return self._license(cursor, license_id), changed

    def rebuild_tables(self) -> AccountRebuild:
        """Make users and licenses exactly what the account events give (hashes kept)."""
        done = rebuild_accounts(self.db, self.eventlog)
        self._recent.clear()  # after the commit, like every change
        return done

    # -- how a change is recorded ---------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[Cursor]:
        """A write transaction holding the accounts lock; this process's token checks look
        again once it commits (account changes are rare: the whole cache goes)."""
        with self.db.transaction() as cursor:
            self.db.serialize(cursor, ACCOUNTS_LOCK)
            try:
                yield cursor
            except self.db.integrity_errors as e:  # the checks ran under the lock: not a race
                raise AccountConflict(
                    f"The change conflicts with what the database holds ({_first_line(e)}): "
                    "run `ledger audit verify`"
                ) from None
        self._recent.clear()

    def _save(self, cursor: Cursor, aggregate: Any, **kept: Any) -> list[int]:
        """Write the aggregate's row as its new events leave it, then append those events."""
        pending = list(aggregate.collect_events())
        if not pending:
            return []
        if pending[0].effect.creates:
            tables.insert_row(cursor, aggregate.row, **kept)
        else:
            tables.update_row(cursor, aggregate.row)
        positions = self.eventlog.append(cursor, pending)
        for event, position in zip(pending, positions, strict=True):
            log.info(
                "account_recorded",
                type=type(event).__name__,
                stream=str(event.originator_id),
                version=event.originator_version,
                position=position,
                actor=getattr(event, event.effect.actor),
                role=event.actor_role,
            )
        return positions

    def _saved(self, cursor: Cursor, account: UserAccount, changed: bool) -> tuple[User, bool]:
        if changed:
            self._save(cursor, account)
        return self._user(cursor, account.user.id), changed

    def _load_user(self, cursor: Cursor, user_id: int) -> UserAccount:
        if tables.select_user(cursor, user_id) is None:
            raise UserNotFound(f"with id {user_id}")
        account = self._replay(cursor, user_stream_id(user_id), f"User {user_id}")
        assert isinstance(account, UserAccount)
        return account

    def _load_license(self, cursor: Cursor, license_id: int) -> License:
        if tables.select_license(cursor, license_id) is None:
            raise LicenseNotFound(license_id)
        issued = self._replay(cursor, license_stream_id(license_id), f"License {license_id}")
        assert isinstance(issued, License)
        return issued

    def _replay(self, cursor: Cursor, stream: Any, what: str) -> ChainedAggregate:
        aggregate: Any = None
        for raw in self.eventlog.read_stream(cursor, stream):
            aggregate = self.eventlog.decode(raw).mutate(aggregate)
        if aggregate is None:
            raise AccountConflict(
                f"{what} has no history in the ledger (written outside it?): "
                "run `ledger audit verify`"
            )
        return aggregate  # type: ignore[no-any-return]

    @staticmethod
    def _user(cursor: Cursor, user_id: int) -> User:
        user = tables.select_user(cursor, user_id)
        if user is None:
            raise UserNotFound(f"with id {user_id}")
        return user

    @staticmethod
    def _holder(cursor: Cursor, holder_id: int) -> User:
        """The user a license is given to; an unknown id is a bad value, not a missing URL."""
        holder = tables.select_user(cursor, holder_id)
        if holder is None:
            raise InvalidAccount("holder_id", f"no user has id {holder_id}")
        return holder

    @staticmethod
    def _license(cursor: Cursor, license_id: int) -> LicenseInfo:
        found = tables.select_license(cursor, license_id)
        if found is None:
            raise LicenseNotFound(license_id)
        return found

    # -- passwords and tokens -------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> User | None:
        """The active user with these credentials, or None (same work for unknown emails)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT {tables.USER_COLUMNS}, password_hash FROM users "
                "WHERE lower(email) = lower(%s)",
                (email.strip(),),
            )
            row = cursor.fetchone()
        if row is None and self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not-a-real-password")
        stored = row[-1] if row else self._dummy_hash
        assert stored is not None
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        user = tables.user_of(row[:-1])
        return user if user.active else None

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

    # -- lookups --------------------------------------------------------------------------

    def get_user(self, user_id: int) -> User | None:
        """A user by id."""
        with self.db.transaction(write=False) as cursor:
            return tables.select_user(cursor, user_id)

    def user(self, user_id: int) -> User:
        """One user; UserNotFound otherwise."""
        with self.db.transaction(write=False) as cursor:
            return self._user(cursor, user_id)

    def find_user(self, email: str) -> User | None:
        """A user by email (case-insensitive)."""
        with self.db.transaction(write=False) as cursor:
            return tables.find_user(cursor, email)

    def users(self) -> list[User]:
        """Every user, by id."""
        with self.db.transaction(write=False) as cursor:
            return tables.select_users(cursor)

    def licenses(self, holder_id: int | None = None) -> list[LicenseInfo]:
        """Every license, or those one user holds, by id."""
        with self.db.transaction(write=False) as cursor:
            return tables.select_licenses(cursor, holder_id)

    def get_license(self, license_id: int) -> LicenseInfo:
        """One license; LicenseNotFound otherwise."""
        with self.db.transaction(write=False) as cursor:
            return self._license(cursor, license_id)

    def licenses_held_by(self, user_id: int) -> list[int]:
        """Ids of the licenses a user holds, oldest first."""
        with self.db.transaction(write=False) as cursor:
            return tables.licenses_held(cursor, user_id)

    def license_holder(self, license_id: int) -> int | None:
        """The user id holding a license, None when the license does not exist."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT holder_id FROM licenses WHERE id = %s", (license_id,))
            row = cursor.fetchone()
        return int(row[0]) if row else None


def _now() -> datetime:
    return datetime.now(UTC)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]

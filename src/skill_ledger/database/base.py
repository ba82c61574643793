"""The one interface to the ledger's database; PostgreSQL and SQLite each implement it.

Everything that differs between the two backends (transactions, bulk I/O, the event store's
table names, notifications, error classes) is a method or attribute here, so no module above
this package asks which backend it runs on.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from skill_ledger.settings import DatabaseURL


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the connection."""


class Breaker:
    """Fails fast while the database is down: one caller probes now and then, the rest at once."""

    def __init__(self, probe: Callable[[], None], interval: float = 0.5) -> None:
        self._probe = probe
        self._interval = interval
        self._on_recover: list[Callable[[], None]] = []
        self._down_since: float | None = None
        self._last_probe = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while the database is believed down."""
        return self._down_since is not None

    def on_recover(self, callback: Callable[[], None]) -> None:
        """Call `callback` each time the database answers again (to clean stale connections)."""
        self._on_recover.append(callback)

    def check(self) -> None:
        """Raise DatabaseUnavailable at once while down, except for one periodic probe."""
        if self._down_since is None:
            return
        now = time.monotonic()
        if now - self._last_probe < self._interval or not self._lock.acquire(blocking=False):
            raise DatabaseUnavailable("the database is unavailable (failing fast until it answers)")
        try:
            self._last_probe = now
            self._probe()
        except Exception as e:
            raise DatabaseUnavailable(str(e)) from e
        else:
            self._down_since = None
            for recover in self._on_recover:
                recover()
        finally:
            self._lock.release()

    def failed(self) -> None:
        """A call found the database unreachable."""
        if self._down_since is None:
            self._down_since = self._last_probe = time.monotonic()


class Cursor(Protocol):
    """The part of a DB-API cursor the ledger uses."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement touched."""

    @property
    def description(self) -> Sequence[Any] | None:
        """Column metadata of the last query, each item's first field its name."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (placeholders: %s)."""

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        """Run one statement for each parameter row."""

    def fetchone(self) -> Any:
        """Next row or None."""

    def fetchall(self) -> list[Any]:
        """Remaining rows."""


class Session(Protocol):
    """A connection of its own, outside the pool: notifications and session-level locks."""

    def listen(self, channel: str) -> None:
        """Receive notifications sent on this channel."""

    def notifications(self, timeout: float) -> list[str]:
        """Payloads received within `timeout` seconds (returns after the first batch)."""

    def try_lock(self, key: int) -> bool:
        """Take a session-level advisory lock without waiting; True when taken."""

    def limit_silence(self, seconds: float) -> None:
        """Have the server end this session when the client sends nothing for `seconds`."""

    def heartbeat(self) -> None:
        """One round trip: the session is alive (and not silent)."""


class ServerHashing(Protocol):
    """SQL spellings with which the server computes digests of the rows it holds."""

    def json_document(self, column: str) -> str:
        """JSON stored as UTF-8 bytes, parsed (an error when it is not JSON)."""

    def json_string(self, document: str, key: str) -> str:
        """A top-level string member of a parsed document (NULL: absent or not a string)."""

    def last_word(self, column: str) -> str:
        """What follows the last '.' or ':' of a text column."""

    def needs_escape(self, text: str) -> str:
        """A condition: the text holds a quote, a backslash or a control character."""

    def sha256(self, prefix: bytes, text: str) -> str:
        """SHA-256 of `prefix` followed by the UTF-8 of a text expression."""


RowWriter = Callable[[Sequence[Sequence[Any]]], None]
StoredRow = tuple[UUID, int, str, bytes]
"""An event as the events table stores it: stream id, version, topic, state."""


class Database(ABC):
    """A pool of connections to the ledger's database, one backend behind one interface."""

    url: DatabaseURL
    breaker: Breaker
    events_table: str
    snapshots_table: str
    position_column: str
    stream_column: str
    """SQL giving an event's stream id as text (as stored: SQLite keeps 32 hex digits)."""
    for_update: str
    """The row-locking clause of a SELECT (empty where a write transaction locks everything)."""
    integrity_errors: tuple[type[Exception], ...]
    """What the driver raises when a constraint refuses a write."""
    statement_errors: tuple[type[Exception], ...]
    """What the driver raises when it refuses a statement (constraints, bad data, bad SQL)."""
    connection_errors: tuple[type[Exception], ...]
    """What the driver raises when the connection or server fails."""
    hashing: ServerHashing | None = None
    """How the server hashes text it builds from stored JSON (None: it cannot; Python does)."""
    swaps_tables: bool = False
    """A rebuilt table can be filled beside the live one and swapped in (blue-green)."""

    @abstractmethod
    def open(self) -> None:
        """Open the pool without waiting for a connection."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    def transaction(self, *, write: bool = True) -> AbstractContextManager[Cursor]:
        """A cursor in a transaction, committed on success and rolled back on error."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Cursor]:
        """A read-only transaction that sees one moment of the database throughout."""

    @abstractmethod
    def session(self) -> AbstractContextManager[Session | None]:
        """A dedicated connection for notifications and locks; None where the backend has none."""

    @abstractmethod
    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query answers."""

    @abstractmethod
    def discard_broken(self) -> None:
        """Drop pooled connections the server closed (after a restart)."""

    @abstractmethod
    def stream_param(self, stream: UUID) -> object:
        """A stream id as the event tables compare it."""

    @abstractmethod
    def stream_text(self, stream: UUID) -> str:
        """A stream id spelled as the event tables store it (what `stream_column` gives)."""

    @abstractmethod
    def fetch_raw(self, cursor: Cursor, sql: str, params: Sequence[Any]) -> list[Any]:
        """Rows of a query over the event tables, binary columns as bytes."""

    @abstractmethod
    def select_in(self, cursor: Cursor, select: str, column: str, ids: list[Any]) -> list[Any]:
        """Rows of `select` whose `column` is one of `ids`."""

    @abstractmethod
    def bulk_reader(self, cursor: Cursor) -> AbstractContextManager[Cursor]:
        """Where a bulk job reads the log while `cursor` writes (its own connection, if any)."""

    @abstractmethod
    def bulk_writer(
        self, cursor: Cursor, table: str, columns: Sequence[str], upsert: str
    ) -> AbstractContextManager[RowWriter]:
        """A function writing rows into `table` (emptied) in bulk."""

    @abstractmethod
    def insert_events(self, cursor: Cursor, events: Sequence[StoredRow]) -> list[int]:
        """Append events in this transaction, under the store's table lock; their positions."""

    @abstractmethod
    def next_id(self, cursor: Cursor, table: str) -> int:
        """A new id for a row of `table` (users, licenses), taken before the row is written."""

    @abstractmethod
    def serialize(self, cursor: Cursor, key: int) -> None:
        """Hold a lock on `key` until this write transaction ends (writers of `key` take turns)."""

    def create_table_like(self, cursor: Cursor, table: str, like: str) -> None:
        """Create the empty `table` with `like`'s columns, defaults, constraints and indexes."""
        raise NotImplementedError("this backend rebuilds in place")

    def swap_tables(
        self, cursor: Cursor, live: str, replacement: str, retired: str, locked: Callable[[], None]
    ) -> None:
        """Put `replacement` in `live`'s place in this transaction: the views and grants
        recreated over it, its indexes named as before, the old table renamed `retired`.
        `locked` runs first thing under the swap's lock timeout (the caller's own locks)."""
        raise NotImplementedError("this backend rebuilds in place")

    @abstractmethod
    def end_stale_writers(self) -> int:
        """End other processes' sessions of this pool's family caught inside a writing
        transaction (a former leader that froze): their row locks go with them. How many."""

    @abstractmethod
    def limit_idle_transaction(self, cursor: Cursor, seconds: float) -> None:
        """End this transaction's session if its client goes silent inside it for `seconds`."""

    @abstractmethod
    def notify_clause(self, channel: str, payload: str) -> tuple[str, tuple[Any, ...]]:
        """A RETURNING item (and its parameters) that notifies listeners at commit."""

    @abstractmethod
    def notify(self, cursor: Cursor, channel: str, payload: str) -> None:
        """Notify listeners at commit."""

    @abstractmethod
    def is_missing_relation(self, error: Exception) -> bool:
        """The error says a table or view does not exist."""

    @abstractmethod
    def eventstore_env(self, pool_size: int) -> dict[str, str]:
        """The eventsourcing library's settings for this database."""


def as_uuid(value: Any) -> UUID:
    """A UUID column value (uuid on PostgreSQL, text on SQLite)."""
    return value if isinstance(value, UUID) else UUID(value)


def as_time(value: Any) -> datetime:
    """A timestamp column value (timestamptz on PostgreSQL, RFC 3339 text on SQLite)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).astimezone(UTC)


def as_optional_time(value: Any) -> datetime | None:
    """A nullable timestamp column value."""
    return None if value is None else as_time(value)

"""SQLite: one connection per thread in WAL mode, %s placeholders, polling instead of LISTEN."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

from skill_ledger.database.base import (
    Breaker,
    Cursor,
    Database,
    DatabaseUnavailable,
    RowWriter,
    Session,
    StoredRow,
)
from skill_ledger.domain import format_time
from skill_ledger.settings import DatabaseURL

MAX_PARAMS = 900
WRITE_BATCH = 5_000


@lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    return re.sub(r"%s", "?", sql).replace("%%", "%")


class _SQLiteCursor:
    """sqlite3 cursor that speaks the %s placeholders of the PostgreSQL queries."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Sequence[Any] | None:
        return self._cursor.description

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(_qmark(sql), tuple(params))

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(_qmark(sql), [tuple(p) for p in params])

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class SQLiteDatabase(Database):
    """One connection per thread (WAL: readers never wait for the writer)."""

    events_table = "stored_events"
    snapshots_table = "stored_snapshots"
    position_column = "rowid"
    stream_column = "originator_id"
    for_update = ""
    integrity_errors = (sqlite3.IntegrityError,)
    statement_errors = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)
    connection_errors = (sqlite3.OperationalError, DatabaseUnavailable)

    def __init__(self, url: DatabaseURL, *, durable: bool, breaker: Breaker | None) -> None:
        self.url = url
        self.durable = durable
        self.breaker = breaker or Breaker(self.ping)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        sqlite3.register_adapter(UUID, str)
        sqlite3.register_adapter(datetime, format_time)
        Path(url.path).parent.mkdir(parents=True, exist_ok=True)

    def open(self) -> None:
        """Connections open on first use, one per thread."""

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.url.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute("PRAGMA foreign_keys=ON")
            if not self.durable:
                connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Cursor]:
        """BEGIN IMMEDIATE for writers (one at a time), BEGIN for readers."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield _SQLiteCursor(connection.cursor())
        except BaseException:
            connection.rollback()
            raise
        else:
            connection.commit()

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A WAL read transaction already sees one moment throughout."""
        with self.transaction(write=False) as cursor:
            yield cursor

    @contextmanager
    def session(self) -> Iterator[Session | None]:
        """SQLite has no notifications: callers poll."""
        yield None

    def ping(self) -> None:
        """A trivial query on this thread's connection."""
        try:
            with self.transaction(write=False) as cursor:
                cursor.execute("SELECT 1")
        except sqlite3.Error as e:
            raise DatabaseUnavailable(str(e)) from e

    def discard_broken(self) -> None:
        """Nothing to discard: the file does not restart."""

    def stream_param(self, stream: UUID) -> object:
        """The library's SQLite recorder stores stream ids as 32 hex digits."""
        return stream.hex

    def stream_text(self, stream: UUID) -> str:
        """32 lowercase hex digits, as the library writes them (a CHECK refuses any other)."""
        return stream.hex

    def fetch_raw(self, cursor: Cursor, sql: str, params: Sequence[Any]) -> list[Any]:
        """BLOBs arrive as bytes already."""
        cursor.execute(sql, params)
        return cursor.fetchall()

    def select_in(self, cursor: Cursor, select: str, column: str, ids: list[Any]) -> list[Any]:
        """IN (…) in chunks below SQLite's parameter limit."""
        rows: list[Any] = []
        for start in range(0, len(ids), MAX_PARAMS):
            chunk = ids[start : start + MAX_PARAMS]
            cursor.execute(f"{select} WHERE {column} IN ({', '.join(['%s'] * len(chunk))})", chunk)
            rows.extend(cursor.fetchall())
        return rows

    @contextmanager
    def bulk_reader(self, cursor: Cursor) -> Iterator[Cursor]:
        """The writer's own cursor: SQLite allows one connection to read and write in turn."""
        yield cursor

    @contextmanager
    def bulk_writer(
        self, cursor: Cursor, table: str, columns: Sequence[str], upsert: str
    ) -> Iterator[RowWriter]:
        """executemany of the upsert, in batches."""

        def insert(rows: Sequence[Sequence[Any]]) -> None:
            for start in range(0, len(rows), WRITE_BATCH):
                cursor.executemany(upsert, rows[start : start + WRITE_BATCH])

        yield insert

    def insert_events(self, cursor: Cursor, events: Sequence[StoredRow]) -> list[int]:
        """Plain inserts: the write transaction already excludes every other writer."""
        positions = []
        for stream, version, topic, state in events:
            cursor.execute(
                f"INSERT INTO {self.events_table} "
                "(originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s) RETURNING rowid",
                (stream.hex, version, topic, state),
            )
            positions.append(int(cursor.fetchone()[0]))
        return positions

    def next_id(self, cursor: Cursor, table: str) -> int:
        """One more than the largest id (the write transaction excludes other writers)."""
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])

    def serialize(self, cursor: Cursor, key: int) -> None:
        """Nothing more to take: BEGIN IMMEDIATE already serialises every writer."""

    def end_stale_writers(self) -> int:
        """None to end: a process that dies mid-write leaves no lock behind."""
        return 0

    def limit_idle_transaction(self, cursor: Cursor, seconds: float) -> None:
        """Nothing to limit: the one writer is in this process."""

    def notify_clause(self, channel: str, payload: str) -> tuple[str, tuple[Any, ...]]:
        """Nothing to notify: followers poll."""
        return "", ()

    def notify(self, cursor: Cursor, channel: str, payload: str) -> None:
        """Nothing to notify: followers poll."""

    def is_missing_relation(self, error: Exception) -> bool:
        """sqlite3 says "no such table" for views too."""
        return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)

    def eventstore_env(self, pool_size: int) -> dict[str, str]:
        """The library's SQLite recorder on this file."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": self.url.path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }

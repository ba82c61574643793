"""Transactions on the ledger's database for the read side and accounts: psycopg or sqlite3."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from skill_ledger.domain import format_time
from skill_ledger.settings import DatabaseURL


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the connection."""


class Breaker:
    """Fails fast while the database is down: one caller probes now and then, the rest at once."""

    def __init__(self, probe: Callable[[], None], interval: float = 0.5) -> None:
        self._probe = probe
        self._interval = interval
        self.on_recover: list[Callable[[], None]] = []
        self._down_since: float | None = None
        self._last_probe = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while the database is believed down."""
        return self._down_since is not None

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
            for recover in self.on_recover:
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


def _register_sqlite_adapters() -> None:
    sqlite3.register_adapter(UUID, str)
    sqlite3.register_adapter(datetime, format_time)


class Database:
    """A pool of connections to the ledger's database, one backend behind one interface."""

    def __init__(
        self,
        url: DatabaseURL,
        *,
        pool_size: int = 8,
        connect_timeout: float = 5.0,
        durable: bool = True,
        name: str = "ledger-read",
    ):
        self.url = url
        self.durable = durable
        self.is_postgres = url.is_postgres
        self._local = threading.local()
        self._sqlite_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._connect_timeout = connect_timeout
        self.breaker = Breaker(self.ping)
        self.breaker.on_recover.append(self.discard_broken)
        if self.is_postgres:
            self._pool = ConnectionPool(
                url.conninfo(),
                min_size=1,
                max_size=pool_size,
                open=False,
                timeout=connect_timeout,
                kwargs={
                    "connect_timeout": max(1, int(connect_timeout)),
                    "options": "-c timezone=UTC"
                    + ("" if durable else " -c synchronous_commit=off"),
                },
                # Give up on a failed connection attempt at once: the breaker decides when to try.
                reconnect_timeout=0,
                name=name,
            )
        else:
            _register_sqlite_adapters()
            Path(url.path).parent.mkdir(parents=True, exist_ok=True)

    @property
    def backend(self) -> str:
        """postgresql or sqlite."""
        return self.url.backend

    def open(self) -> None:
        """Open the pool (PostgreSQL) without waiting for a connection."""
        if self._pool is not None:
            self._pool.open(wait=False)

    def _sqlite(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.url.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=30.0,
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute("PRAGMA foreign_keys=ON")
            if not self.durable:
                connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._sqlite_connections.append(connection)
        return connection

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Cursor]:
        """A cursor in a transaction, committed on success and rolled back on error."""
        if self._pool is not None:
            self.breaker.check()
            try:
                with self._pool.connection() as conn, conn.cursor() as cursor:
                    yield cursor
            except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError) as e:
                self.breaker.failed()
                raise DatabaseUnavailable(str(e)) from e
            return
        connection = self._sqlite()
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield _SQLiteCursor(connection.cursor())
        except BaseException:
            connection.rollback()
            raise
        else:
            connection.commit()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A raw driver connection (psycopg or sqlite3) for bulk work like COPY."""
        if self._pool is not None:
            self.breaker.check()
            try:
                with self._pool.connection() as conn:
                    yield conn
            except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError) as e:
                self.breaker.failed()
                raise DatabaseUnavailable(str(e)) from e
            return
        yield self._sqlite()

    def discard_broken(self) -> None:
        """Check the pool's idle connections and drop those the server closed (after a restart)."""
        if self._pool is not None:
            self._pool.check()

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query answers."""
        if self._pool is None:
            try:
                with self.transaction(write=False) as cursor:
                    cursor.execute("SELECT 1")
            except sqlite3.Error as e:
                raise DatabaseUnavailable(str(e)) from e
            return
        try:
            with psycopg.connect(
                self.url.conninfo(), connect_timeout=max(1, int(self._connect_timeout))
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            raise DatabaseUnavailable(str(e)) from e

    def close(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for connection in self._sqlite_connections:
                connection.close()
            self._sqlite_connections.clear()


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

"""Transactions on the ledger's database for the read side and accounts: psycopg or sqlite3."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
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

    def __init__(self, url: DatabaseURL, *, pool_size: int = 8, connect_timeout: float = 5.0):
        self.url = url
        self.is_postgres = url.is_postgres
        self._local = threading.local()
        self._sqlite_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._connect_timeout = connect_timeout
        if self.is_postgres:
            self._pool = ConnectionPool(
                url.conninfo(),
                min_size=1,
                max_size=pool_size,
                open=False,
                timeout=connect_timeout,
                kwargs={
                    "connect_timeout": max(1, int(connect_timeout)),
                    "options": "-c timezone=UTC",
                },
                reconnect_timeout=0,
                name="ledger-read",
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
            self._local.connection = connection
            with self._lock:
                self._sqlite_connections.append(connection)
        return connection

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Cursor]:
        """A cursor in a transaction, committed on success and rolled back on error."""
        if self._pool is not None:
            try:
                with self._pool.connection() as conn, conn.cursor() as cursor:
                    yield cursor
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                raise DatabaseUnavailable(str(e)) from e
            except TimeoutError as e:  # the pool found no connection in time
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
            try:
                with self._pool.connection() as conn:
                    yield conn
            except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError) as e:
                raise DatabaseUnavailable(str(e)) from e
            return
        yield self._sqlite()

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

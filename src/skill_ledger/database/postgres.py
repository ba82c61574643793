"""PostgreSQL: a psycopg pool, COPY for bulk writes, LISTEN/NOTIFY and advisory locks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from skill_ledger.database import swap
from skill_ledger.database.base import (
    Breaker,
    Cursor,
    Database,
    DatabaseUnavailable,
    RowWriter,
    Session,
    StoredRow,
)
from skill_ledger.settings import DatabaseURL

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, TimeoutError)
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3
USER_TIMEOUT_MS = 30_000
# A peer that vanished without closing (host down, network cut) is noticed within about 30 s
# at both ends: the client's libpq drops the connection, and the server ends the session, which
# frees a projector leader's advisory lock for a standby instead of holding it for hours.
CLIENT_KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": KEEPALIVE_IDLE,
    "keepalives_interval": KEEPALIVE_INTERVAL,
    "keepalives_count": KEEPALIVE_COUNT,
    **({"tcp_user_timeout": USER_TIMEOUT_MS} if psycopg.pq.version() >= 120000 else {}),
}
SERVER_KEEPALIVE = (
    f"-c tcp_keepalives_idle={KEEPALIVE_IDLE} -c tcp_keepalives_interval={KEEPALIVE_INTERVAL} "
    f"-c tcp_keepalives_count={KEEPALIVE_COUNT} -c tcp_user_timeout={USER_TIMEOUT_MS}"
)


class PostgresSession:
    """A dedicated autocommit connection: LISTEN and session advisory locks."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def listen(self, channel: str) -> None:
        """LISTEN on the channel (a fixed identifier of ours, never input)."""
        self.connection.execute(f"LISTEN {channel}")

    def notifications(self, timeout: float) -> list[str]:
        """Payloads that arrive within `timeout` seconds (the first batch)."""
        return [note.payload for note in self.connection.notifies(timeout=timeout, stop_after=1)]

    def try_lock(self, key: int) -> bool:
        """pg_try_advisory_lock: held until this connection closes."""
        row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        return bool(row and row[0])

    def limit_silence(self, seconds: float) -> None:
        """idle_session_timeout: a frozen or cut-off client's session (and locks) end on time."""
        self.connection.execute(
            "SELECT set_config('idle_session_timeout', %s, false)", (f"{int(seconds * 1000)}",)
        )

    def heartbeat(self) -> None:
        """SELECT 1."""
        self.connection.execute("SELECT 1")


class PostgresHashing:
    """PostgreSQL's own SHA-256 and JSON functions."""

    def json_document(self, column: str) -> str:
        """jsonb (a cast error on malformed JSON or bytes that are not UTF-8)."""
        return f"convert_from({column}, 'UTF8')::jsonb"

    def json_string(self, document: str, key: str) -> str:
        """The member as text when it is a JSON string."""
        member = f"{document} -> '{key}'"
        return f"CASE WHEN jsonb_typeof({member}) = 'string' THEN {document} ->> '{key}' END"

    def last_word(self, column: str) -> str:
        """A regular expression anchored at the end."""
        return f"substring({column} from '[^.:]*$')"

    def needs_escape(self, text: str) -> str:
        """PostgreSQL text never holds NUL."""
        return text + r""" ~ '["\\\x01-\x1f\x7f]'"""

    def sha256(self, prefix: bytes, text: str) -> str:
        """sha256(bytea)."""
        return f"sha256('\\x{prefix.hex()}'::bytea || convert_to({text}, 'UTF8'))"


class PostgresDatabase(Database):
    """A psycopg connection pool; failures open the shared breaker."""

    events_table = "ledger_events"
    snapshots_table = "ledger_snapshots"
    position_column = "notification_id"
    stream_column = "originator_id::text"
    for_update = " FOR UPDATE"
    integrity_errors = (psycopg.IntegrityError,)
    statement_errors = (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError)
    hashing = PostgresHashing()
    connection_errors = (psycopg.Error, DatabaseUnavailable)
    swaps_tables = True

    def __init__(
        self,
        url: DatabaseURL,
        *,
        pool_size: int,
        connect_timeout: float,
        durable: bool,
        name: str,
        breaker: Breaker | None,
        application_name: str = "",
    ) -> None:
        self.url = url
        self.conninfo = url.conninfo()
        self.application_name = application_name
        if application_name:
            self.conninfo = make_conninfo(self.conninfo, application_name=application_name)
        self._connect_timeout = max(1, int(connect_timeout))
        self.breaker = breaker or Breaker(self.ping)
        self.breaker.on_recover(self.discard_broken)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=connect_timeout,
            kwargs={
                "connect_timeout": self._connect_timeout,
                "options": f"-c timezone=UTC {SERVER_KEEPALIVE}"
                + ("" if durable else " -c synchronous_commit=off"),
                **CLIENT_KEEPALIVE,
            },
            # Give up on a failed connection attempt at once: the breaker decides when to try.
            reconnect_timeout=0,
            name=name,
        )

    def open(self) -> None:
        """Open the pool without waiting for a connection."""
        self._pool.open(wait=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Cursor]:
        """A pooled connection's cursor: a writer's transaction, or a reader's statements.

        Under READ COMMITTED a read-only transaction promises nothing its statements do not
        promise alone, so a reader's statements autocommit: no BEGIN and COMMIT round trips.
        """
        with self._pooled(autocommit=not write) as cursor:
            yield cursor

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """REPEATABLE READ, READ ONLY: one moment of the database for the whole transaction."""
        with self._pooled(autocommit=False) as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    @contextmanager
    def _pooled(self, *, autocommit: bool) -> Iterator[Cursor]:
        """A pooled connection's cursor (psycopg commits a transaction on a clean exit)."""
        self.breaker.check()
        try:
            with self._pool.connection() as conn:
                conn.autocommit = autocommit
                try:
                    with conn.cursor() as cursor:
                        yield cursor
                finally:
                    if autocommit and not conn.closed:
                        conn.autocommit = False
        except UNAVAILABLE as e:
            self.breaker.failed()
            raise DatabaseUnavailable(str(e)) from e

    @contextmanager
    def connect(self, *, autocommit: bool) -> Iterator[psycopg.Connection[Any]]:
        """A connection of its own, outside the pool (closed at the end of the block).

        TCP keepalives and a user timeout at both ends, as on pooled connections.
        """
        try:
            connection = psycopg.connect(
                self.conninfo,
                autocommit=autocommit,
                connect_timeout=self._connect_timeout,
                options=SERVER_KEEPALIVE,
                **CLIENT_KEEPALIVE,
            )
        except psycopg.OperationalError as e:
            raise DatabaseUnavailable(str(e)) from e
        with connection:
            yield connection

    @contextmanager
    def session(self) -> Iterator[Session | None]:
        """An autocommit connection for LISTEN and advisory locks."""
        with self.connect(autocommit=True) as connection:
            yield PostgresSession(connection)

    def ping(self) -> None:
        """A round trip on a new connection (the pool's may all be broken)."""
        try:
            with self.connect(autocommit=True) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error as e:
            raise DatabaseUnavailable(str(e)) from e

    def discard_broken(self) -> None:
        """Check the pool's idle connections and drop those the server closed."""
        self._pool.check()

    def stream_param(self, stream: UUID) -> object:
        """uuid column: the UUID itself."""
        return stream

    def stream_text(self, stream: UUID) -> str:
        """uuid::text: lowercase, hyphenated (the type has no other spelling)."""
        return str(stream)

    def fetch_raw(self, cursor: Cursor, sql: str, params: Sequence[Any]) -> list[Any]:
        """Binary results: bytea arrives as bytes, no hex round trip."""
        assert isinstance(cursor, psycopg.Cursor)
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()

    def select_in(self, cursor: Cursor, select: str, column: str, ids: list[Any]) -> list[Any]:
        """One query with = ANY(array)."""
        cursor.execute(f"{select} WHERE {column} = ANY(%s)", (ids,))
        return cursor.fetchall()

    @contextmanager
    def bulk_reader(self, cursor: Cursor) -> Iterator[Cursor]:
        """A binary cursor on a second connection: it reads while COPY streams on the first."""
        with self.connect(autocommit=False) as connection, connection.cursor(binary=True) as reader:
            yield reader

    @contextmanager
    def bulk_writer(
        self, cursor: Cursor, table: str, columns: Sequence[str], upsert: str
    ) -> Iterator[RowWriter]:
        """One COPY for the whole job; a queue thread sends data while the caller works on."""
        assert isinstance(cursor, psycopg.Cursor)
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement, writer=psycopg.copy.QueuedLibpqWriter(cursor)) as copy:

            def send(rows: Sequence[Sequence[Any]]) -> None:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)

            yield send

    def insert_events(self, cursor: Cursor, events: Sequence[StoredRow]) -> list[int]:
        """ledger_insert_events: the recorder's EXCLUSIVE table lock (held until commit), NOTIFY."""
        if not events:
            return []
        rows = ", ".join(["(%s, %s, %s, %s)::stored_event_uuid"] * len(events))
        cursor.execute(
            f"SELECT ledger_insert_events(ARRAY[{rows}])",
            [value for event in events for value in event],
        )
        return [int(row[0]) for row in cursor.fetchall()]

    def next_id(self, cursor: Cursor, table: str) -> int:
        """The identity sequence's next value, past any id written without it (a restore)."""
        cursor.execute(
            f"SELECT GREATEST(nextval(pg_get_serial_sequence(%s, 'id')), "
            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}))",
            (table,),
        )
        return int(cursor.fetchone()[0])

    def serialize(self, cursor: Cursor, key: int) -> None:
        """A transaction-level advisory lock."""
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def create_table_like(self, cursor: Cursor, table: str, like: str) -> None:
        """CREATE TABLE … (LIKE … INCLUDING ALL), after dropping a leftover."""
        swap.create_table_like(cursor, table, like)

    def swap_tables(
        self, cursor: Cursor, live: str, replacement: str, retired: str, locked: Callable[[], None]
    ) -> None:
        """Rename the replacement into place; views, grants and index names carried over."""
        swap.swap_tables(cursor, live, replacement, retired, locked)

    def end_stale_writers(self) -> int:
        """pg_terminate_backend on the family's (`name/…`) other sessions with a transaction id."""
        if not self.application_name:
            return 0
        family = self.application_name.split("/", 1)[0] + "/%"
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE %s "
                "AND application_name <> %s AND backend_xid IS NOT NULL",
                (family, self.application_name),
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def limit_idle_transaction(self, cursor: Cursor, seconds: float) -> None:
        """idle_in_transaction_session_timeout for this transaction: a frozen client's row locks
        are freed on time instead of when TCP gives up."""
        cursor.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
            (f"{int(seconds * 1000)}",),
        )

    def notify_clause(self, channel: str, payload: str) -> tuple[str, tuple[Any, ...]]:
        """pg_notify in the RETURNING list: delivered when the transaction commits."""
        return ", pg_notify(%s, %s)", (channel, payload)

    def notify(self, cursor: Cursor, channel: str, payload: str) -> None:
        """pg_notify, delivered at commit."""
        cursor.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def is_missing_relation(self, error: Exception) -> bool:
        """UndefinedTable (42P01)."""
        return isinstance(error, psycopg.errors.UndefinedTable)

    def eventstore_env(self, pool_size: int) -> dict[str, str]:
        """Our fail-fast recorders on this server (tables come from migrations)."""
        url = self.url
        return {
            "PERSISTENCE_MODULE": "skill_ledger.eventstore.recorders:LedgerPostgresFactory",
            "POSTGRES_DBNAME": url.dbname,
            "POSTGRES_HOST": url.host,
            "POSTGRES_PORT": str(url.port),
            "POSTGRES_USER": url.user,
            "POSTGRES_PASSWORD": url.password,
            # The library opens POOL_SIZE connections at once: two, growing to pool_size on demand.
            "POSTGRES_POOL_SIZE": str(min(2, pool_size)),
            "POSTGRES_MAX_OVERFLOW": str(max(0, pool_size - 2)),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            # No pre-ping round trip per checkout: a broken connection fails its statement,
            # the pool discards it, and the recorder's own retry takes a fresh one.
            "POSTGRES_PRE_PING": "n",
            # Never y: it drops the table lock that keeps commit order = notification order.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }

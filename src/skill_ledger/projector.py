"""The projector: folds the notification log into football_skill_assessments, exactly once."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
import structlog

from skill_ledger.database import Cursor, Database, DatabaseUnavailable
from skill_ledger.domain import Assessment, SkillRecord, fold
from skill_ledger.eventlog import EventLog
from skill_ledger.readmodel import TABLE, select_by_ids, write_rows
from skill_ledger.rebuild import RowFold, UnfoldableEvent, row_writer

log = structlog.get_logger("skill_ledger.projector")

PROJECTION_NAME = TABLE
PROJECTED_CHANNEL = "ledger_projected"
EVENTS_CHANNEL = "ledger_events"
REBUILD_READ_BATCH = 20_000

ProgressCallback = Callable[[int, int], None]


class ProjectionError(Exception):
    """The projection cannot apply the log (a replayed position, or an event it cannot place)."""


class PositionAlreadyProjected(ProjectionError):
    """The tracking row is already at or past this batch: it was projected before."""


class PositionWatch:
    """The projection's last committed position, and waiting until it reaches a target."""

    def __init__(self, position: int = 0) -> None:
        self._position = position
        self._changed = threading.Condition()

    @property
    def position(self) -> int:
        """The last position known to be projected."""
        return self._position

    def advance(self, position: int) -> None:
        """Record progress (never moves backwards) and wake waiters."""
        with self._changed:
            if position > self._position:
                self._position = position
                self._changed.notify_all()

    def reset(self, position: int) -> None:
        """Set the position outright (after a rebuild or a downgrade)."""
        with self._changed:
            self._position = position
            self._changed.notify_all()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the projection has passed `position`; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """Where the projection stands against the log."""

    position: int
    head: int
    last_batch_at: float | None

    @property
    def lag_events(self) -> int:
        """Events recorded but not yet projected."""
        return max(0, self.head - self.position)


@dataclass(frozen=True, slots=True)
class RebuildStats:
    """What a rebuild did."""

    events: int
    rows: int
    seconds: float
    position: int

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


class Projector:
    """Keeps the read table and its tracking position in one transaction per batch."""

    def __init__(
        self,
        db: Database,
        eventlog: EventLog,
        *,
        batch_size: int = 1000,
        poll_seconds: float = 0.05,
        idle_seconds: float = 1.0,
        name: str = PROJECTION_NAME,
    ) -> None:
        self.db = db
        self.eventlog = eventlog
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.name = name
        self.watch = PositionWatch()
        self.last_batch_at: float | None = None
        self.leading = False
        self.on_projected: Callable[[list[float]], None] | None = None
        self._batching = threading.Lock()
        self.lock_key = int.from_bytes(
            hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
        )
        self._kick = threading.Event()

    # -- tracking -------------------------------------------------------------------------

    def _lock_position(self, cursor: Cursor) -> int:
        """The tracked position, its row locked until the transaction ends (created if missing)."""
        lock = " FOR UPDATE" if self.db.is_postgres else ""
        select = (
            f"SELECT notification_id FROM projection_tracking WHERE application_name = %s{lock}"
        )
        cursor.execute(select, (self.name,))
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                "INSERT INTO projection_tracking (application_name, notification_id) "
                "VALUES (%s, 0) ON CONFLICT (application_name) DO NOTHING",
                (self.name,),
            )
            cursor.execute(select, (self.name,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _advance_tracking(self, cursor: Cursor, after: int, position: int) -> None:
        # Moves only from exactly where this batch started: a stale or overlapping batch is
        # refused even if something else had failed to serialise the projectors.
        # On PostgreSQL the same statement tells followers (delivered at commit).
        sql = (
            "UPDATE projection_tracking SET notification_id = %s "
            "WHERE application_name = %s AND notification_id = %s RETURNING notification_id"
        )
        params: tuple[object, ...] = (position, self.name, after)
        if self.db.is_postgres:
            sql += ", pg_notify(%s, %s)"
            params += (PROJECTED_CHANNEL, str(position))
        cursor.execute(sql, params)
        if cursor.fetchone() is None:
            raise PositionAlreadyProjected(
                f"{self.name} is no longer at position {after}: batch up to {position} refused"
            )

    def tracked_position(self) -> int:
        """The committed position, read from the database."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT notification_id FROM projection_tracking WHERE application_name = %s",
                (self.name,),
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def status(self) -> ProjectionStatus:
        """Position, head of the log and lag."""
        with self.db.transaction(write=False) as cursor:
            head = self.eventlog.max_position(cursor)
            cursor.execute(
                "SELECT notification_id FROM projection_tracking WHERE application_name = %s",
                (self.name,),
            )
            row = cursor.fetchone()
        return ProjectionStatus(int(row[0]) if row else 0, head, self.last_batch_at)

    def lag_seconds(self, status: ProjectionStatus) -> float:
        """Age of the oldest event not yet projected; 0 when caught up."""
        if status.lag_events == 0:
            return 0.0
        with self.db.transaction(write=False) as cursor:
            logged = self.eventlog.read(cursor, status.position, 1)
        if not logged:
            return 0.0
        recorded: datetime = self.eventlog.decode(logged[0]).timestamp
        return max(0.0, time.time() - recorded.timestamp())

    # -- the live path ----------------------------------------------------------------------

    def apply_batch(self, cursor: Cursor, after: int, events: list[Any]) -> int:
        """Fold decoded events into the rows they touch and write them back."""
        created = {e.assessment_id for e in events if isinstance(e, SkillRecord.Assessed)}
        needed = {
            e.assessment_id
            for e in events
            if isinstance(e, SkillRecord.Validated | SkillRecord.Archived)
            and e.assessment_id not in created
        }
        rows = select_by_ids(cursor, needed, is_postgres=self.db.is_postgres)
        missing = needed - rows.keys()
        if missing:
            raise ProjectionError(
                f"Events after position {after} refer to assessments the read table lacks: "
                f"{sorted(map(str, missing))[:5]}"
            )
        touched: dict[UUID, Assessment] = {}
        fold(rows, events)
        for event in events:
            assessment_id = getattr(event, "assessment_id", None)
            if assessment_id is not None:
                touched[assessment_id] = rows[assessment_id]
        return write_rows(cursor, touched.values())

    def run_batch(self) -> int:
        """Project the next batch in one transaction; returns how many events it covered."""
        with self._batching:
            return self._run_batch()

    def help_until(self, position: int, timeout: float) -> bool:
        """Project in this thread until `position` is passed (or wait while another thread does).

        Used by commands of the leading process: the committing thread projects its own events
        at once instead of waiting for the loop to be woken, and one batch serves every command
        committed meanwhile. False on timeout.
        """
        deadline = time.monotonic() + timeout
        while self.watch.position < position:
            if self._batching.acquire(blocking=False):
                try:
                    if self._run_batch() == 0 and self.watch.position < position:
                        return False  # not in the log yet: leave it to the loop
                finally:
                    self._batching.release()
            else:
                self.watch.wait_for(position, min(0.05, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                return self.watch.position >= position
        return True

    def _run_batch(self) -> int:
        with self.db.transaction() as cursor:
            position = self._lock_position(cursor)
            logged = self.eventlog.read(cursor, position, self.batch_size)
            if not logged:
                self.watch.advance(position)
                return 0
            events = [self.eventlog.decode(item) for item in logged]
            self.apply_batch(cursor, position, events)
            last = logged[-1].position
            self._advance_tracking(cursor, position, last)
        self.last_batch_at = time.time()
        self.watch.advance(last)
        if self.on_projected is not None:
            self.on_projected([self.last_batch_at - e.timestamp.timestamp() for e in events])
        return len(logged)

    def catch_up(self, on_progress: ProgressCallback | None = None) -> int:
        """Run batches until the log is exhausted; returns events projected."""
        total = 0
        while True:
            count = self.run_batch()
            total += count
            if on_progress is not None and count:
                on_progress(total, 0)
            if count < self.batch_size:
                return total

    def kick(self) -> None:
        """Wake the loop now (an in-process command just saved events)."""
        self._kick.set()

    def run(self, stop: threading.Event) -> None:
        """Follow the log until `stop` is set: LISTEN on PostgreSQL, polling on SQLite.

        On PostgreSQL one process leads per projection (a session advisory lock); the others stand
        by, following the leader's progress, and take over when its connection goes. Every wait has
        a timeout and every failure restarts the loop after a pause, so a lost LISTEN connection
        delays the projection by at most `idle_seconds` instead of stalling it.
        """
        backoff = 0.1
        while not stop.is_set():
            try:
                if self.db.is_postgres:
                    self._follow_postgres(stop)
                else:
                    self._follow_polling(stop)
                backoff = 0.1
            except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as e:
                log.error("projector_failed", error=str(e), retry_in=5.0)
                stop.wait(5.0)
            except (DatabaseUnavailable, psycopg.Error, OSError) as e:
                log.warning("projector_connection_lost", error=str(e), retry_in=backoff)
                kicked = self._pause(stop, backoff)
                backoff = 0.1 if kicked else min(backoff * 2, 5.0)
            except ProjectionError as e:
                log.error("projector_failed", error=str(e), retry_in=5.0)
                stop.wait(5.0)
            except Exception as e:  # a projector must never die silently
                log.exception("projector_crashed", error=str(e), retry_in=5.0)
                stop.wait(5.0)

    def _pause(self, stop: threading.Event, seconds: float) -> bool:
        """Wait before reconnecting; True when a kick ended it early.

        A kick means a command of this process just saved events, so the database answers again:
        waiting out the backoff would hold that command's read-your-writes wait for seconds.
        """
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self._kick.wait(min(remaining, 0.1)):
                self._kick.clear()
                return True
        return False

    def _follow_polling(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.catch_up() == 0:
                self._kick.wait(self.poll_seconds)
                self._kick.clear()

    def _follow_postgres(self, stop: threading.Event) -> None:
        """Lead (hold the advisory lock, LISTEN for events, project) or stand by until it frees."""
        with psycopg.connect(self.db.url.conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {PROJECTED_CHANNEL}")
            while not stop.is_set():
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,)).fetchone()
                if row and row[0]:
                    self.leading = True
                    log.info("projector_leading", projection=self.name)
                    try:
                        self._lead(conn, stop)
                    finally:
                        self.leading = False
                    return
                self.watch.advance(self.tracked_position())
                for note in conn.notifies(timeout=self.idle_seconds, stop_after=1):
                    self.watch.advance(int(note.payload))

    def _lead(self, conn: psycopg.Connection[Any], stop: threading.Event) -> None:
        conn.execute(f"LISTEN {EVENTS_CHANNEL}")
        self.catch_up()
        while not stop.is_set():
            woken = self._kick.is_set()
            self._kick.clear()
            if not woken:
                for _ in conn.notifies(timeout=min(self.idle_seconds, 0.25), stop_after=1):
                    break
            self.catch_up()

    # -- rebuild ----------------------------------------------------------------------------

    def rebuild(self, on_progress: ProgressCallback | None = None) -> RebuildStats:
        """Rebuild the read table from the first event, in one transaction.

        Readers keep seeing the old table until the commit (PostgreSQL MVCC); the live projector
        waits on the tracking row and continues from the rebuilt position. Archived rows are
        final, so they are written as soon as they archive; memory holds only active rows.
        On PostgreSQL the log is read on a second connection while one COPY streams rows in on
        the first: events up to the head are committed and never change, so both see the same
        log (the recorder's table lock means no lower position can still commit).
        """
        started = time.perf_counter()
        with self.db.transaction() as cursor:
            self._lock_position(cursor)
            head = self.eventlog.max_position(cursor)
            total = self.eventlog.count(cursor)
            cursor.execute(f"DELETE FROM {TABLE}")
            fold = RowFold(self.eventlog.mapper)
            done = written = position = 0
            with (
                self._log_reader(cursor) as reader,
                row_writer(cursor, is_postgres=self.db.is_postgres) as write,
            ):
                while position < head:
                    logged = self.eventlog.read_states(reader, position, REBUILD_READ_BATCH, head)
                    if not logged:
                        break
                    try:
                        fold.apply_all(logged)
                    except UnfoldableEvent as e:
                        raise ProjectionError(str(e)) from e
                    finished = fold.take_finished()
                    write(finished)
                    written += len(finished)
                    done += len(logged)
                    position = logged[-1][0]
                    if on_progress is not None:
                        on_progress(done, total)
                active = fold.take_active()
                write(active)
                written += len(active)
            cursor.execute(
                "UPDATE projection_tracking SET notification_id = %s WHERE application_name = %s",
                (head, self.name),
            )
            if self.db.is_postgres:
                cursor.execute("SELECT pg_notify(%s, %s)", (PROJECTED_CHANNEL, str(head)))
        self.watch.reset(head)
        return RebuildStats(
            events=done, rows=written, seconds=time.perf_counter() - started, position=head
        )

    @contextmanager
    def _log_reader(self, cursor: Cursor) -> Iterator[Cursor]:
        """Where a rebuild reads the log: on PostgreSQL its own binary connection (not pooled)."""
        if not self.db.is_postgres:
            yield cursor
            return
        with (
            psycopg.connect(self.db.url.conninfo(), connect_timeout=5) as conn,
            conn.cursor(binary=True) as reader,
        ):
            yield reader

"""The projector: folds the notification log into football_skill_assessments, exactly once."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from skill_ledger.database import Cursor, Database, Session
from skill_ledger.domain import Assessment, effect_of, fold
from skill_ledger.domain.assessment import KEY
from skill_ledger.eventstore.log import EventLog
from skill_ledger.readside import rebuild as bulk
from skill_ledger.readside.table import TABLE, select_by_ids, write_rows
from skill_ledger.readside.tracking import PROJECTED_CHANNEL, ProjectionError, Tracking

log = structlog.get_logger("skill_ledger.projector")

PROJECTION_NAME = TABLE
EVENTS_CHANNEL = "ledger_events"

ProgressCallback = Callable[[int, int], None]
DelaysCallback = Callable[[list[float]], None]


def apply_events(cursor: Cursor, db: Database, after: int, events: list[Any]) -> int:
    """Fold events (those after position `after`) into the rows they touch and write them."""
    effects = [(event, effect_of(event)) for event in events]
    created = {getattr(e, KEY) for e, effect in effects if effect and effect.creates}
    needed = {
        getattr(e, KEY)
        for e, effect in effects
        if effect and not effect.creates and getattr(e, KEY) not in created
    }
    rows = select_by_ids(cursor, db, needed)
    missing = needed - rows.keys()
    if missing:
        raise ProjectionError(
            f"Events after position {after} refer to assessments the read table lacks: "
            f"{sorted(map(str, missing))[:5]}"
        )
    fold(rows, events)
    touched: dict[UUID, Assessment] = {
        getattr(e, KEY): rows[getattr(e, KEY)] for e, effect in effects if effect
    }
    return write_rows(cursor, touched.values())


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
        on_projected: DelaysCallback | None = None,
    ) -> None:
        self.db = db
        self.eventlog = eventlog
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.name = name
        self.tracking = Tracking(db, name)
        self.watch = PositionWatch()
        self.last_batch_at: float | None = None
        self.leading = False
        self.on_projected = on_projected
        self._batching = threading.Lock()
        self.lock_key = int.from_bytes(
            hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
        )
        self._kick = threading.Event()

    # -- where it stands ---------------------------------------------------------------------

    def tracked_position(self) -> int:
        """The committed position, read from the database."""
        return self.tracking.position()

    def status(self) -> ProjectionStatus:
        """Position, head of the log and lag."""
        with self.db.transaction(write=False) as cursor:
            head = self.eventlog.max_position(cursor)
            position = self.tracking.read(cursor)
        return ProjectionStatus(position, head, self.last_batch_at)

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
        return apply_events(cursor, self.db, after, events)

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
            position = self.tracking.lock(cursor)
            logged = self.eventlog.read(cursor, position, self.batch_size)
            if not logged:
                self.watch.advance(position)
                return 0
            events = [self.eventlog.decode(item) for item in logged]
            self.apply_batch(cursor, position, events)
            last = logged[-1].position
            self.tracking.advance(cursor, position, last)
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
        """Follow the log until `stop` is set: LISTEN where the backend can, polling elsewhere.

        With notifications one process leads per projection (a session advisory lock); the
        others stand by, following the leader's progress, and take over when its connection
        goes. Every wait has a timeout and every failure restarts the loop after a pause, so a
        lost LISTEN connection delays the projection by at most `idle_seconds` instead of
        stalling it.
        """
        failures: tuple[type[Exception], ...] = (ProjectionError, *self.db.statement_errors)
        lost: tuple[type[Exception], ...] = (*self.db.connection_errors, OSError)
        backoff = 0.1
        while not stop.is_set():
            try:
                with self.db.session() as session:
                    if session is None:
                        self._follow_polling(stop)
                    else:
                        self._follow_notifications(session, stop)
                backoff = 0.1
            except failures as e:
                log.error("projector_failed", error=str(e), retry_in=5.0)
                stop.wait(5.0)
            except lost as e:
                log.warning("projector_connection_lost", error=str(e), retry_in=backoff)
                kicked = self._pause(stop, backoff)
                backoff = 0.1 if kicked else min(backoff * 2, 5.0)
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

    def _follow_notifications(self, session: Session, stop: threading.Event) -> None:
        """Lead (hold the advisory lock, LISTEN for events, project) or stand by until it frees."""
        session.listen(PROJECTED_CHANNEL)
        while not stop.is_set():
            if session.try_lock(self.lock_key):
                self.leading = True
                log.info("projector_leading", projection=self.name)
                try:
                    self._lead(session, stop)
                finally:
                    self.leading = False
                return
            self.watch.advance(self.tracked_position())
            for payload in session.notifications(self.idle_seconds):
                self.watch.advance(int(payload))

    def _lead(self, session: Session, stop: threading.Event) -> None:
        session.listen(EVENTS_CHANNEL)
        self.catch_up()
        while not stop.is_set():
            woken = self._kick.is_set()
            self._kick.clear()
            if not woken:
                session.notifications(min(self.idle_seconds, 0.25))
            self.catch_up()

    def follow(self, stop: threading.Event) -> None:
        """Track another process's projector (read-your-writes waits in a process without one)."""
        lost: tuple[type[Exception], ...] = (*self.db.connection_errors, OSError, ValueError)
        while not stop.is_set():
            try:
                self.watch.advance(self.tracked_position())
                with self.db.session() as session:
                    if session is None:  # no notifications: poll
                        stop.wait(self.poll_seconds)
                        continue
                    session.listen(PROJECTED_CHANNEL)
                    self.watch.advance(self.tracked_position())
                    while not stop.is_set():
                        heard = session.notifications(self.idle_seconds)
                        for payload in heard:
                            self.watch.advance(int(payload))
                        if not heard:
                            self.watch.advance(self.tracked_position())
            except lost as e:
                log.warning("projector_follower_lost", error=str(e))
                stop.wait(1.0)

    # -- rebuild ----------------------------------------------------------------------------

    def rebuild(self, on_progress: ProgressCallback | None = None) -> bulk.RebuildStats:
        """Rebuild the read table from the first event, in one transaction (see rebuild.py)."""
        stats = bulk.rebuild(self.db, self.eventlog, self.tracking, on_progress)
        self.watch.reset(stats.position)
        return stats

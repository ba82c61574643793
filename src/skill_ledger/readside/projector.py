"""The projector: folds the notification log into football_skill_assessments, exactly once."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

import structlog

from skill_ledger.database import Cursor, Database, Session
from skill_ledger.eventstore.log import EventLog
from skill_ledger.readside import bluegreen
from skill_ledger.readside import rebuild as bulk
from skill_ledger.readside.apply import apply_events
from skill_ledger.readside.liveness import (
    HEARTBEAT_SECONDS,
    SILENCE_SECONDS,
    STEP_BACK_SECONDS,
    Heartbeat,
    alive,
)
from skill_ledger.readside.progress import PositionWatch, ProjectionStatus, stall_of
from skill_ledger.readside.table import PROJECTION_VERSION, TABLE
from skill_ledger.readside.tracking import (
    PROJECTED_CHANNEL,
    PositionAlreadyProjected,
    ProjectionError,
    Stall,
    Tracking,
    TrackingState,
)
from skill_ledger.readside.upgrade import Upgrade

log = structlog.get_logger("skill_ledger.projector")

PROJECTION_NAME = TABLE
EVENTS_CHANNEL = "ledger_events"
STALL_RETRY_SECONDS = 2.0
"""While stalled, how often the projector tries the failing event again (a rebuild may fix it)."""
REMEDY = "ledger projection rebuild"
ProgressCallback = Callable[[int, int], None]
DelaysCallback = Callable[[list[float]], None]


class _RollBack(Exception):
    """Ends a transaction that only looked (its changes are rolled back)."""


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
        version: int = PROJECTION_VERSION,
        on_projected: DelaysCallback | None = None,
        on_failed: Callable[[], None] | None = None,
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
        self.on_failed = on_failed
        self.stall: Stall | None = None
        """The event this projection cannot apply (its own batches, or as the tracking row says)."""
        self._batching = threading.Lock()
        self.lock_key = int.from_bytes(
            hashlib.sha256(name.encode()).digest()[:8], "big", signed=True
        )
        self._kick = threading.Event()
        self._lost_lead_at = -STEP_BACK_SECONDS
        self.version = version
        self._upgrade = Upgrade(self.tracking, db.swaps_tables, self.rebuild)

    # -- where it stands ---------------------------------------------------------------------

    def tracked_position(self) -> int:
        """The committed position, read from the database."""
        return self.tracking.position()

    def status(self, db: Database | None = None) -> ProjectionStatus:
        """Position, head of the log, lag and stall (read through `db`'s pool if given)."""
        with (db or self.db).transaction(write=False) as cursor:
            head = self.eventlog.max_position(cursor)
            state = self.tracking.read_state(cursor)
        return ProjectionStatus(state.position, head, self.last_batch_at, state.stall)

    def observe(self, state: TrackingState) -> None:
        """Learn the committed position and stall another process recorded."""
        self.watch.advance(state.position)
        self.stall = state.stall

    def _heard(self, payload: str) -> None:
        """A notification on the projected channel: a position, or news of a stall."""
        if payload.isdigit():
            self._progressed(int(payload))
        else:
            self.observe(self.tracking.state())

    def _progressed(self, position: int) -> None:
        self.watch.advance(position)
        if self.stall is not None and position >= self.stall.position:
            self.stall = None

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
        """One batch in one transaction, tracked; a failing batch is left wholly unapplied.

        A failure that is not an outage stalls the projection: the event that fails is found,
        recorded for every process and logged once, and the error is raised again.
        """
        try:
            return self._project_batch()
        except Exception as e:
            if self._is_failure(e):
                if self.on_failed is not None:
                    self.on_failed()
                self._stalled(self._culprit(e))
            raise

    def _project_batch(self) -> int:
        with self.db.transaction() as cursor:
            self.db.limit_idle_transaction(cursor, SILENCE_SECONDS)
            position = self.tracking.lock(cursor)
            logged = self.eventlog.read(cursor, position, self.batch_size)
            if not logged:
                self.watch.advance(position)
                self._recovered(position)
                return 0
            events = [self.eventlog.decode(item) for item in logged]
            self.apply_batch(cursor, position, events)
            last = logged[-1].position
            self.tracking.advance(cursor, position, last)
        self.last_batch_at = time.time()
        self.watch.advance(last)
        self._recovered(last)
        if self.on_projected is not None:
            self.on_projected([self.last_batch_at - e.timestamp.timestamp() for e in events])
        return len(logged)

    def _culprit(self, error: Exception) -> Stall | None:
        """The failed batch again, one event at a time and rolled back: the first that fails.

        None when even looking fails (an outage: the next attempt tells).
        """
        found: Stall | None = None
        try:
            with suppress(_RollBack), self.db.transaction() as cursor:
                after = self.tracking.lock(cursor)
                logged = self.eventlog.read(cursor, after, self.batch_size)
                for item in logged:
                    try:
                        self.apply_batch(cursor, after, [self.eventlog.decode(item)])
                    except Exception as e:
                        if not self._is_failure(e):
                            raise
                        found = stall_of(item, e)
                        break
                    after = item.position
                if found is None and logged:  # fails only as a whole batch: name its first
                    found = stall_of(logged[0], error)
                raise _RollBack
        except Exception as e:
            log.warning("projector_diagnosis_failed", error=f"{type(e).__name__}: {e}"[:300])
            return None
        return found

    def _is_failure(self, error: Exception) -> bool:
        """The projection cannot apply an event (not an outage, which a retry outlives)."""
        if isinstance(error, PositionAlreadyProjected):
            return False
        if isinstance(error, (ProjectionError, *self.db.statement_errors)):
            return True
        return not isinstance(error, (*self.db.connection_errors, OSError))

    def _stalled(self, stall: Stall | None) -> None:
        """Record the stall for every process; the first to record it logs it, once."""
        if stall is None:
            return
        known = self.stall is not None and self.stall.position == stall.position
        self.stall = stall
        try:
            first = self.tracking.record_stall(stall)
        except (*self.db.connection_errors, *self.db.statement_errors):
            first = not known
        if first:
            log.error(
                f"🛑 PROJECTION STALLED at position {stall.position}: {stall.reason}. "
                f"The read table stays before it and commands answer 503 until it is "
                f"repaired: run `{REMEDY}`",
                position=stall.position,
                remedy=REMEDY,
            )

    def _recovered(self, position: int) -> None:
        if self.stall is not None and position >= self.stall.position:
            log.info("projector_recovered", position=position, was_stalled_at=self.stall.position)
            self.stall = None

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
        self._upgrade.check(self.version)
        while not stop.is_set():
            if self._catch_up_unless_stalled(stop) == 0:
                self._kick.wait(self.poll_seconds)
                self._kick.clear()

    def _catch_up_unless_stalled(
        self, stop: threading.Event, session: Session | None = None
    ) -> int:
        """Catch up; when stalled, wait a while (keeping the lead) and say 0.

        The stall was logged once, where it was recorded; every retry counts a failure. A
        leader's session beats between batches, so a long catch-up keeps the lead.
        """
        beat = None if session is None else Heartbeat(session)
        try:
            return self.catch_up(None if beat is None else beat.progress)
        except Exception:
            if self.stall is None:
                raise
            stop.wait(STALL_RETRY_SECONDS)
            return 0

    def _follow_notifications(self, session: Session, stop: threading.Event) -> None:
        """Lead (hold the advisory lock, LISTEN for events, project) or stand by until it frees."""
        session.limit_silence(SILENCE_SECONDS)
        session.listen(PROJECTED_CHANNEL)
        stepped_back = self._lost_lead_at
        while not stop.is_set():
            if time.monotonic() - stepped_back >= STEP_BACK_SECONDS and session.try_lock(
                self.lock_key
            ):
                self.leading = True
                log.info("projector_leading", projection=self.name)
                try:
                    self._lead(session, stop)
                except BaseException:
                    if not alive(session):  # lost the session: let a healthy standby lead
                        self._lost_lead_at = time.monotonic()
                    raise
                finally:
                    self.leading = False
                return
            self.observe(self.tracking.state())
            for payload in session.notifications(min(self.idle_seconds, HEARTBEAT_SECONDS)):
                self._heard(payload)

    def _lead(self, session: Session, stop: threading.Event) -> None:
        session.listen(EVENTS_CHANNEL)
        fenced = self.db.end_stale_writers()  # a frozen former leader's batch holds the row
        if fenced:
            log.warning("projector_fenced_former_leader", sessions=fenced, projection=self.name)
        self._upgrade.check(self.version)
        beat = Heartbeat(session)
        self._catch_up_unless_stalled(stop, session)
        while not stop.is_set():
            woken = self._kick.is_set()
            self._kick.clear()
            if not woken:
                session.notifications(min(self.idle_seconds, 0.25))
            beat.maybe()
            self._catch_up_unless_stalled(stop, session)

    def follow(self, stop: threading.Event) -> None:
        """Track another process's projector (read-your-writes waits in a process without one)."""
        lost: tuple[type[Exception], ...] = (*self.db.connection_errors, OSError)
        while not stop.is_set():
            try:
                self.observe(self.tracking.state())
                with self.db.session() as session:
                    if session is None:  # no notifications: poll
                        stop.wait(self.poll_seconds)
                        continue
                    session.listen(PROJECTED_CHANNEL)
                    self.observe(self.tracking.state())
                    while not stop.is_set():
                        heard = session.notifications(self.idle_seconds)
                        for payload in heard:
                            self._heard(payload)
                        if not heard:
                            self.observe(self.tracking.state())
            except lost as e:
                log.warning("projector_follower_lost", error=str(e))
                stop.wait(1.0)

    # -- rebuild ----------------------------------------------------------------------------

    def rebuild(
        self, on_progress: ProgressCallback | None = None
    ) -> bulk.RebuildStats | bluegreen.SwapStats:
        """Rebuild the read table from the first event: beside the live one and swapped in
        where the backend can (bluegreen.py), else in place in one transaction (rebuild.py)."""
        if self.db.swaps_tables:
            stats: bulk.RebuildStats | bluegreen.SwapStats = bluegreen.rebuild(
                self.db, self.eventlog, self.tracking, on_progress, self.version
            )
        else:
            stats = bulk.rebuild(self.db, self.eventlog, self.tracking, on_progress, self.version)
        self.watch.reset(stats.position)
        self._recovered(stats.position)
        return stats

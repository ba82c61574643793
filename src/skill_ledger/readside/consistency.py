"""Read-your-writes: no command is answered before the read table shows it.

A command's answer waits, bounded, until the projection has passed the command's last event
(for a command that recorded nothing, the stream's last event). When it cannot (the wait runs
out, the database is down, the projector is stalled) the command is recorded or refused but not
yet visible, and the answer is NotYetVisible: retrying is safe because commands are idempotent.
"""

from __future__ import annotations

import time
from uuid import UUID

import anyio.to_thread
import structlog

from skill_ledger.eventstore.log import EventLog
from skill_ledger.readside.projector import REMEDY, Projector
from skill_ledger.readside.tracking import Stall

log = structlog.get_logger("skill_ledger.consistency")
WAIT_SLICE_SECONDS = 0.1
RETRY_SOON_SECONDS = 1
RETRY_STALLED_SECONDS = 30


class NotYetVisible(Exception):
    """The read side does not show the command yet; the same command again is safe."""

    def __init__(self, detail: str, *, retry_after: int, stall: Stall | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.stall = stall


class ReadYourWrites:
    """A command's answer waits for its own events to be projected."""

    def __init__(self, projector: Projector, eventlog: EventLog, wait_seconds: float) -> None:
        self.projector = projector
        self.eventlog = eventlog
        self.wait_seconds = wait_seconds

    def wait(self, position: int) -> None:
        """Return once the read table reflects `position`; NotYetVisible when it cannot.

        The leading process projects in the committing thread; others wake the loop and wait.
        A stalled projection or an unavailable database fails at once: waiting cannot help.
        """
        projector = self.projector
        if projector.watch.position >= position:
            return
        self._check(position)
        if projector.leading:
            try:
                if projector.help_until(position, self.wait_seconds):
                    return
            except Exception as e:  # a stall (now recorded) or an outage: answered below
                log.warning("projector_help_failed", error=f"{type(e).__name__}: {e}"[:300])
                self._check(position)
        projector.kick()
        deadline = time.monotonic() + self.wait_seconds
        while not projector.watch.wait_for(position, WAIT_SLICE_SECONDS):
            self._check(position)
            if time.monotonic() >= deadline:
                raise self._timed_out()

    async def wait_async(self, position: int) -> None:
        """`wait` for a caller on the event loop: no thread parked while the projector works.

        The leading process projects itself (in a worker thread, as `wait` does); a follower
        waits on the loop until the projection process's notification advances the watch.
        """
        projector = self.projector
        if projector.watch.position >= position:
            return
        if projector.leading or projector.stall is not None:
            await anyio.to_thread.run_sync(self.wait, position)
            return
        self._check(position)
        projector.kick()
        deadline = time.monotonic() + self.wait_seconds
        while not await projector.watch.reached(position, WAIT_SLICE_SECONDS):
            self._check(position)
            if time.monotonic() >= deadline:
                raise self._timed_out()

    def wait_for_stream(self, stream: UUID) -> int:
        """Wait until the read table reflects every event of a stream; its last position.

        A command that recorded nothing answers with what earlier commands, perhaps of other
        processes, recorded: the read table must show that.
        """
        with self.eventlog.db.transaction(write=False) as cursor:
            position = self.eventlog.stream_head(cursor, stream)
        self.wait(position)
        return position

    def reach_head(self) -> bool:
        """Wait until the read table reflects every event recorded so far; False if it did."""
        with self.eventlog.db.transaction(write=False) as cursor:
            head = self.eventlog.max_position(cursor)
        if self.projector.watch.position >= head:
            return False
        self.wait(head)
        return True

    def _check(self, position: int) -> None:
        projector = self.projector
        if projector.stall is not None:  # still recorded? a rebuild elsewhere may have fixed it
            projector.observe(projector.tracking.state())
        stall = projector.stall
        if stall is not None and position > projector.watch.position:
            raise self._stalled(stall)
        if self.projector.db.breaker.is_open:
            raise NotYetVisible(
                "The database is unavailable, so the read side cannot show the command; "
                "sending the same command again is safe",
                retry_after=RETRY_SOON_SECONDS,
            )

    def _timed_out(self) -> NotYetVisible:
        return NotYetVisible(
            f"The read side did not show the command within {self.wait_seconds:g} s "
            "(it may be recorded); sending the same command again is safe",
            retry_after=RETRY_SOON_SECONDS,
        )

    @staticmethod
    def _stalled(stall: Stall) -> NotYetVisible:
        return NotYetVisible(
            f"The read side is stalled at position {stall.position} and cannot show the command "
            f"until an operator repairs it (`{REMEDY}`); sending the same command again "
            "afterwards is safe",
            retry_after=RETRY_STALLED_SECONDS,
            stall=stall,
        )

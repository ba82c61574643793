"""A projection's progress as a process sees it: the position it waits on, status, stalls."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from skill_ledger.eventstore.log import LoggedEvent
from skill_ledger.readside.tracking import Stall


def stall_of(logged: LoggedEvent, error: Exception) -> Stall:
    """The stall on one stored event: which event, and the error applying it gave."""
    kind = logged.topic.rpartition(".")[2].rpartition(":")[2]
    message = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    reason = f"{kind} version {logged.version} of stream {logged.stream_id}"
    return Stall(logged.position, f"{reason}: {type(error).__name__}: {message}".rstrip(": "))


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
    stall: Stall | None = None

    @property
    def lag_events(self) -> int:
        """Events recorded but not yet projected."""
        return max(0, self.head - self.position)

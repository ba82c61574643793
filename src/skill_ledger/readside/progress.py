"""A projection's progress as a process sees it: the position it waits on, status, stalls."""

from __future__ import annotations

import asyncio
import contextlib
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
        # Coroutines waiting on an event loop: (target, loop, future), woken by advance().
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

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
                self._wake_reached()

    def reset(self, position: int) -> None:
        """Set the position outright (after a rebuild or a downgrade)."""
        with self._changed:
            self._position = position
            self._changed.notify_all()
            self._wake_reached()

    def _wake_reached(self) -> None:
        """Resolve the loop waiters whose target is reached (one loop wake-up per batch)."""
        if not self._waiters:
            return
        reached = [w for w in self._waiters if w[0] <= self._position]
        if not reached:
            return
        self._waiters = [w for w in self._waiters if w[0] > self._position]
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, loop, future in reached:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            # A closed loop (shutdown) has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, futures)

    async def reached(self, position: int, timeout: float) -> bool:
        """Wait on the event loop, no thread parked, until the projection passed `position`."""
        if self._position >= position:
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (position, loop, future)
        with self._changed:
            if self._position >= position:
                return True
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return self._position >= position
        finally:
            with self._changed:
                if entry in self._waiters:
                    self._waiters.remove(entry)
        return True

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


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


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

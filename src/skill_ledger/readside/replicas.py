"""Reads routed to hot standbys, with read-your-writes: a replica serves a read once it has
replayed past the reader's position token, or the read falls back to the primary.

The token is a log position (a command's answer carries it as X-Ledger-Position). A replica
has replayed past it when its copy of the projection's tracking row is at or past it: the row
commits after the events and read-table rows it covers, so everything before it is there too.
A read without a token still never sees a replica more than `max_lag_seconds` behind what
this process knew to be projected. A replica that is down, or lagging past the wait, is
skipped: the read goes to the primary, and the router counts and logs why.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from skill_ledger.database import Database, DatabaseUnavailable
from skill_ledger.readside.progress import PositionWatch
from skill_ledger.readside.tracking import Tracking

log = structlog.get_logger("skill_ledger.replicas")
T = TypeVar("T")
POLL_SECONDS = 0.01
SAMPLE_SECONDS = 0.1
RouteCallback = Callable[[str, str], None]
"""(target, outcome): which database served a read ("primary" or a replica's name), and why."""

CAUGHT_UP = "caught_up"
LAGGING = "lagging"
DOWN = "down"
NO_REPLICA = "no_replica"


@dataclass
class Replica:
    """One hot standby: its pool, its copy of the tracking row, and whether it is skipped."""

    name: str
    db: Database
    tracking: Tracking
    skipped: str = ""
    """Why reads currently skip it ("" while it serves): logged when this changes."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReadRouter:
    """Chooses the database a read runs on: a replica that has caught up, else the primary."""

    def __init__(
        self,
        primary: Database,
        replicas: list[Database],
        watch: PositionWatch,
        *,
        projection: str,
        wait_seconds: float = 1.0,
        max_lag_seconds: float = 5.0,
        on_route: RouteCallback | None = None,
    ) -> None:
        self.primary = primary
        self.replicas = [
            Replica(f"{db.url.host}:{db.url.port}", db, Tracking(db, projection)) for db in replicas
        ]
        self.watch = watch
        self.wait_seconds = wait_seconds
        self.max_lag_seconds = max_lag_seconds
        self.on_route = on_route
        self._samples: deque[tuple[float, int]] = deque()
        self._samples_lock = threading.Lock()
        self._next = 0

    def read(self, after: int, query: Callable[[Database], T]) -> T:
        """Run `query` on a replica that has replayed past `after`, else on the primary."""
        if not self.replicas:
            return query(self.primary)
        floor = max(after, self._lag_floor())
        wait = self.wait_seconds if after > 0 else 0.0
        start = self._next = (self._next + 1) % len(self.replicas)
        outcome = NO_REPLICA
        for i in range(len(self.replicas)):
            replica = self.replicas[(start + i) % len(self.replicas)]
            lost: tuple[type[Exception], ...] = (
                DatabaseUnavailable,
                *replica.db.connection_errors,
                OSError,
            )
            try:
                if not self._reached(replica, floor, wait):
                    outcome = LAGGING
                    self._skip(replica, LAGGING, floor)
                    continue
                answer = query(replica.db)
            except lost as e:
                outcome = DOWN
                self._skip(replica, DOWN, floor, error=e)
                continue
            self._serve(replica)
            self._routed(replica.name, CAUGHT_UP)
            return answer
        self._routed("primary", outcome)
        return query(self.primary)

    def close(self) -> None:
        """Close every replica's pool."""
        for replica in self.replicas:
            replica.db.close()

    def _reached(self, replica: Replica, floor: int, wait: float) -> bool:
        """Whether the replica's tracking row reaches `floor`, polling up to `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            if floor <= 0 or replica.tracking.position() >= floor:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def _lag_floor(self) -> int:
        """The position this process knew to be projected `max_lag_seconds` ago (0 if none)."""
        now = time.monotonic()
        position = self.watch.position
        with self._samples_lock:
            samples = self._samples
            if not samples or now - samples[-1][0] >= SAMPLE_SECONDS:
                samples.append((now, position))
            floor = 0
            while samples and now - samples[0][0] >= self.max_lag_seconds:
                floor = samples.popleft()[1]
            if floor:
                samples.appendleft((now - self.max_lag_seconds, floor))
        return floor

    def _skip(
        self, replica: Replica, reason: str, floor: int, error: Exception | None = None
    ) -> None:
        with replica.lock:
            changed, replica.skipped = replica.skipped != reason, reason
        if changed:
            detail = f"{type(error).__name__}: {error}"[:300] if error is not None else ""
            log.warning(
                "replica_skipped",
                replica=replica.name,
                reason=reason,
                position=floor,
                wait_seconds=self.wait_seconds,
                error=detail or None,
            )

    def _serve(self, replica: Replica) -> None:
        if replica.skipped:
            with replica.lock:
                was, replica.skipped = replica.skipped, ""
            if was:
                log.info("replica_serving", replica=replica.name, was=was)

    def _routed(self, target: str, outcome: str) -> None:
        if self.on_route is not None:
            self.on_route(target, outcome)

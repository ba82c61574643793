"""Read-your-writes: wait, bounded, until the read table reflects a command's position."""

from __future__ import annotations

import time

import structlog

from skill_ledger.readside.projector import Projector

log = structlog.get_logger("skill_ledger.consistency")
WAIT_SLICE_SECONDS = 0.1


class ReadYourWrites:
    """A command's answer waits for its own events to be projected."""

    def __init__(self, projector: Projector, wait_seconds: float) -> None:
        self.projector = projector
        self.wait_seconds = wait_seconds

    def wait(self, position: int | None) -> bool:
        """Block (bounded) until the read table reflects `position`; True when it does.

        The leading process projects in the committing thread; others wake the loop and wait.
        Gives up early while the database is known to be down: the projection cannot advance
        then.
        """
        if position is None:
            return True
        projector, db = self.projector, self.projector.db
        failed: tuple[type[Exception], ...] = (*db.connection_errors, *db.statement_errors)
        if projector.leading and not db.breaker.is_open:
            try:
                if projector.help_until(position, self.wait_seconds):
                    return True
            except failed as e:
                log.warning("projector_help_failed", error=str(e).splitlines()[0])
        projector.kick()
        deadline = time.monotonic() + self.wait_seconds
        while not projector.watch.wait_for(position, WAIT_SLICE_SECONDS):
            if db.breaker.is_open or time.monotonic() >= deadline:
                return False
        return True

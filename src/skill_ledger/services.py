"""Wiring: the database, accounts, read model, ledger application and projector for one process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg
import structlog
from argon2 import PasswordHasher

from skill_ledger.accounts import Accounts
from skill_ledger.application import CommandObserver, Ledger
from skill_ledger.database import Database, DatabaseUnavailable
from skill_ledger.eventlog import EventLog
from skill_ledger.projector import PROJECTED_CHANNEL, Projector
from skill_ledger.readmodel import ReadModel
from skill_ledger.settings import Settings

log = structlog.get_logger("skill_ledger.services")
WAIT_SLICE_SECONDS = 0.1


@dataclass
class Services:
    """Everything a process needs, opened once at start-up and closed at exit."""

    settings: Settings
    db: Database
    accounts: Accounts
    readmodel: ReadModel
    ledger: Ledger
    eventlog: EventLog
    projector: Projector
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        hasher: PasswordHasher | None = None,
        observer: CommandObserver | None = None,
    ) -> Services:
        """Connect to the configured database (pools open lazily)."""
        db = Database(settings.database, pool_size=settings.pool_size)
        db.open()
        readmodel = ReadModel(db)
        ledger = Ledger(settings, readmodel, observer)
        if db.is_postgres:
            ledger.breaker = db.breaker
            db.breaker.on_recover.append(ledger.discard_broken_connections)
        eventlog = EventLog(is_postgres=db.is_postgres, mapper=ledger.mapper)
        # The read table can always be re-projected, and a crash loses its rows and its tracking
        # position together: its commits need not wait for the disk.
        projection_db = Database(
            settings.database, pool_size=2, durable=False, name="ledger-projection"
        )
        projection_db.open()
        if db.is_postgres:
            # One server, one breaker: a recovery cleans every pool (else the projector meets a
            # connection the restart closed and stalls read-your-writes waits), and waits see it.
            projection_db.breaker = db.breaker
            db.breaker.on_recover.append(projection_db.discard_broken)
        projector = Projector(
            projection_db,
            eventlog,
            batch_size=settings.projection_batch_size,
            poll_seconds=settings.projection_poll_seconds,
            idle_seconds=settings.projection_idle_seconds,
        )
        if observer is not None:
            projector.on_projected = observer.projected
        return cls(
            settings=settings,
            db=db,
            accounts=Accounts(db, hasher),
            readmodel=readmodel,
            ledger=ledger,
            eventlog=eventlog,
            projector=projector,
        )

    def start_projector(self) -> None:
        """Run the projector in a background thread of this process."""
        self._start("projector", lambda: self.projector.run(self._stop))

    def start_follower(self) -> None:
        """Track another process's projector, so read-your-writes waits still work."""
        self._start("projection-follower", self._follow)

    def _start(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _follow(self) -> None:
        watch = self.projector.watch
        while not self._stop.is_set():
            try:
                watch.advance(self.projector.tracked_position())
                if not self.db.is_postgres:
                    self._stop.wait(self.settings.projection_poll_seconds)
                    continue
                with psycopg.connect(
                    self.db.url.conninfo(), autocommit=True, connect_timeout=5
                ) as conn:
                    conn.execute(f"LISTEN {PROJECTED_CHANNEL}")
                    watch.advance(self.projector.tracked_position())
                    while not self._stop.is_set():
                        heard = False
                        for note in conn.notifies(timeout=1.0, stop_after=1):
                            watch.advance(int(note.payload))
                            heard = True
                        if not heard:
                            watch.advance(self.projector.tracked_position())
            except (DatabaseUnavailable, psycopg.Error, OSError, ValueError) as e:
                log.warning("projection_follower_lost", error=str(e))
                self._stop.wait(1.0)

    def wait_projected(self, position: int | None) -> bool:
        """Block (bounded) until the read table reflects `position`; True when it does.

        Gives up early while the database is known to be down: the projection cannot advance
        then, and the command's answer is already built from its record.
        """
        if position is None:
            return True
        if self.projector.leading and not self.db.breaker.is_open:
            try:
                if self.projector.help_until(position, self.settings.projection_wait_seconds):
                    return True
            except (DatabaseUnavailable, psycopg.Error) as e:
                log.warning("projection_help_failed", error=str(e).splitlines()[0])
        self.projector.kick()
        deadline = time.monotonic() + self.settings.projection_wait_seconds
        while not self.projector.watch.wait_for(position, WAIT_SLICE_SECONDS):
            if self.db.breaker.is_open or time.monotonic() >= deadline:
                return False
        return True

    def close(self) -> None:
        """Stop background threads and close every connection."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.ledger.close()
        self.projector.db.close()
        self.db.close()

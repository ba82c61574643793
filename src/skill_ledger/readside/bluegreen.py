"""Blue-green rebuild of the read table: filled beside the live one, swapped in when caught up.

The live projector and the API keep serving from the live table throughout. The new table is
filled by the bulk fold up to the head (its own transaction, touching nothing live), caught up
batch by batch like the live projector, and swapped in by one short transaction: it locks the
live tracking row (the live projector pauses), applies the last few events, renames the new
table into place with its views, grants and index names, and moves the tracking row to the new
table's position. Readers and writers wait only for that transaction (`swap_ms`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from skill_ledger.database import Cursor, Database
from skill_ledger.eventstore.log import EventLog
from skill_ledger.readside.apply import apply_events
from skill_ledger.readside.rebuild import ProgressCallback, fill
from skill_ledger.readside.table import PROJECTION_VERSION, TABLE
from skill_ledger.readside.tracking import Tracking

NEXT_TABLE = f"{TABLE}__next"
RETIRED_TABLE = f"{TABLE}__retired"
CATCH_UP_BATCH = 1000
CLOSE_ENOUGH = 20
"""Events left for the swap transaction to apply itself: beyond this, catch up first."""
REBUILD_LOCK = int.from_bytes(hashlib.sha256(NEXT_TABLE.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class SwapStats:
    """What a blue-green rebuild did."""

    events: int
    rows: int
    seconds: float
    position: int
    caught_up: int
    """Events recorded during the fill and applied by catching up (the swap's share included)."""
    swap_ms: float
    """How long the swap transaction held the live tracking row and table (what waited)."""

    @property
    def events_per_second(self) -> float:
        """Throughput of the whole rebuild."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


def _catch_up(cursor: Cursor, db: Database, eventlog: EventLog, position: int) -> tuple[int, int]:
    """Apply one batch after `position` to the new table: (new position, events applied)."""
    logged = eventlog.read(cursor, position, CATCH_UP_BATCH)
    if logged:
        events = [eventlog.decode(item) for item in logged]
        apply_events(cursor, db, position, events, NEXT_TABLE)
        position = logged[-1].position
    return position, len(logged)


class RebuildRunning(Exception):
    """Another process is rebuilding the read table right now."""


def rebuild(
    db: Database,
    eventlog: EventLog,
    tracking: Tracking,
    on_progress: ProgressCallback | None,
    version: int = PROJECTION_VERSION,
) -> SwapStats:
    """Fill NEXT_TABLE from the log, catch it up, swap it in (PostgreSQL: `db.swaps_tables`).

    One rebuild at a time (a session advisory lock): RebuildRunning otherwise.
    """
    with db.session() as session:
        if session is not None and not session.try_lock(REBUILD_LOCK):
            raise RebuildRunning("another process is rebuilding the read table")
        return _rebuild(db, eventlog, tracking, on_progress, version)


def _rebuild(
    db: Database,
    eventlog: EventLog,
    tracking: Tracking,
    on_progress: ProgressCallback | None,
    version: int,
) -> SwapStats:
    started = time.perf_counter()
    with db.transaction() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RETIRED_TABLE}")  # left by an interrupted swap
        db.create_table_like(cursor, NEXT_TABLE, TABLE)
        position = eventlog.max_position(cursor)
        events, rows = fill(db, cursor, eventlog, NEXT_TABLE, position, on_progress)
    caught_up = 0
    while True:
        with db.transaction() as cursor:
            position, applied = _catch_up(cursor, db, eventlog, position)
            head = eventlog.max_position(cursor)
        caught_up += applied
        if head - position <= CLOSE_ENOUGH:
            break
    clock = {"locked": 0.0}
    with db.transaction() as cursor:

        def locked() -> None:  # the live projector waits from here until the commit
            nonlocal position, caught_up
            clock["locked"] = time.perf_counter()
            tracking.lock(cursor)
            while True:
                position, applied = _catch_up(cursor, db, eventlog, position)
                caught_up += applied
                if applied < CATCH_UP_BATCH:
                    return

        db.swap_tables(cursor, TABLE, NEXT_TABLE, RETIRED_TABLE, locked)
        tracking.reset(cursor, position)
        tracking.set_version(cursor, version)
    done = time.perf_counter()
    with db.transaction() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RETIRED_TABLE}")
    return SwapStats(
        events=events,
        rows=rows,
        seconds=done - started,
        position=position,
        caught_up=caught_up,
        swap_ms=(done - clock["locked"]) * 1000,
    )

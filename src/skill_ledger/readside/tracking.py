"""A projection's tracking row: the last log position its table reflects, moved exactly once.

The row also records a stall (the position of an event the projection cannot apply, and why),
so every process learns it; progress past that position, or a rebuild, clears it.
"""

from __future__ import annotations

from dataclasses import dataclass

from skill_ledger.database import Cursor, Database

PROJECTED_CHANNEL = "ledger_projected"
STALLED_PAYLOAD = "stalled"
"""The notification followers get when a stall is recorded (progress sends the position)."""


class ProjectionError(Exception):
    """The projection cannot apply the log (a replayed position, or an event it cannot place)."""


class PositionAlreadyProjected(ProjectionError):
    """The tracking row is already at or past this batch: it was projected before."""


@dataclass(frozen=True, slots=True)
class Stall:
    """The projection cannot apply the event at `position`: the read table stays before it."""

    position: int
    reason: str


@dataclass(frozen=True, slots=True)
class TrackingState:
    """The committed position, and the stall if there is one."""

    position: int
    stall: Stall | None = None


class Tracking:
    """The one place that reads and writes projection_tracking."""

    def __init__(self, db: Database, name: str, channel: str = PROJECTED_CHANNEL) -> None:
        self.db = db
        self.name = name
        self.channel = channel
        self._select = "SELECT notification_id FROM projection_tracking WHERE application_name = %s"
        self._select_state = (
            "SELECT notification_id, stalled_at, stall_reason FROM projection_tracking "
            "WHERE application_name = %s"
        )

    def read(self, cursor: Cursor) -> int:
        """The committed position (0 before the first batch)."""
        cursor.execute(self._select, (self.name,))
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def position(self) -> int:
        """The committed position, in a transaction of its own."""
        with self.db.transaction(write=False) as cursor:
            return self.read(cursor)

    def read_state(self, cursor: Cursor) -> TrackingState:
        """The committed position and the recorded stall."""
        cursor.execute(self._select_state, (self.name,))
        row = cursor.fetchone()
        if row is None:
            return TrackingState(0)
        stall = None if row[1] is None else Stall(int(row[1]), str(row[2] or ""))
        return TrackingState(int(row[0]), stall)

    def state(self) -> TrackingState:
        """The committed position and the recorded stall, in a transaction of their own."""
        with self.db.transaction(write=False) as cursor:
            return self.read_state(cursor)

    def record_stall(self, stall: Stall) -> bool:
        """Record a stall (in a transaction of its own); True when no process had recorded it."""
        notify, params = self.db.notify_clause(PROJECTED_CHANNEL, STALLED_PAYLOAD)
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO projection_tracking "
                "(application_name, notification_id, stalled_at, stall_reason) "
                "VALUES (%s, 0, %s, %s) ON CONFLICT (application_name) DO UPDATE "
                "SET stalled_at = excluded.stalled_at, stall_reason = excluded.stall_reason "
                "WHERE projection_tracking.stalled_at IS NULL "
                "OR projection_tracking.stalled_at <> excluded.stalled_at "
                f"RETURNING notification_id{notify}",
                (self.name, stall.position, stall.reason, *params),
            )
            return cursor.fetchone() is not None

    def lock(self, cursor: Cursor) -> int:
        """The position, its row locked until the transaction ends (created if missing)."""
        locking = self._select + self.db.for_update
        cursor.execute(locking, (self.name,))
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                "INSERT INTO projection_tracking (application_name, notification_id) "
                "VALUES (%s, 0) ON CONFLICT (application_name) DO NOTHING",
                (self.name,),
            )
            cursor.execute(locking, (self.name,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def advance(self, cursor: Cursor, after: int, position: int) -> None:
        """Move from exactly `after` to `position`, telling followers at commit.

        A stale or overlapping batch is refused even if something else failed to serialise
        the projectors.
        """
        notify, params = self.db.notify_clause(self.channel, str(position))
        cursor.execute(
            "UPDATE projection_tracking "
            "SET notification_id = %s, stalled_at = NULL, stall_reason = NULL "
            "WHERE application_name = %s AND notification_id = %s "
            f"RETURNING notification_id{notify}",
            (position, self.name, after, *params),
        )
        if cursor.fetchone() is None:
            raise PositionAlreadyProjected(
                f"{self.name} is no longer at position {after}: batch up to {position} refused"
            )

    def version(self) -> int:
        """The version of the fold that built the table (1 before any was recorded)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT version FROM projection_tracking WHERE application_name = %s", (self.name,)
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 1

    def set_version(self, cursor: Cursor, version: int) -> None:
        """Record the version of the fold that built the table (with the rebuild's reset)."""
        cursor.execute(
            "UPDATE projection_tracking SET version = %s WHERE application_name = %s",
            (version, self.name),
        )

    def reset(self, cursor: Cursor, position: int) -> None:
        """Set the position outright (a rebuild, which also clears a stall), telling followers."""
        cursor.execute(
            "UPDATE projection_tracking "
            "SET notification_id = %s, stalled_at = NULL, stall_reason = NULL "
            "WHERE application_name = %s",
            (position, self.name),
        )
        self.db.notify(cursor, self.channel, str(position))

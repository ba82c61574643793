"""A projection's tracking row: the last log position its table reflects, moved exactly once."""

from __future__ import annotations

from skill_ledger.database import Cursor, Database

PROJECTED_CHANNEL = "ledger_projected"


class ProjectionError(Exception):
    """The projection cannot apply the log (a replayed position, or an event it cannot place)."""


class PositionAlreadyProjected(ProjectionError):
    """The tracking row is already at or past this batch: it was projected before."""


class Tracking:
    """The one place that reads and writes projection_tracking."""

    def __init__(self, db: Database, name: str, channel: str = PROJECTED_CHANNEL) -> None:
        self.db = db
        self.name = name
        self.channel = channel
        self._select = "SELECT notification_id FROM projection_tracking WHERE application_name = %s"

    def read(self, cursor: Cursor) -> int:
        """The committed position (0 before the first batch)."""
        cursor.execute(self._select, (self.name,))
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def position(self) -> int:
        """The committed position, in a transaction of its own."""
        with self.db.transaction(write=False) as cursor:
            return self.read(cursor)

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
            "UPDATE projection_tracking SET notification_id = %s "
            "WHERE application_name = %s AND notification_id = %s "
            f"RETURNING notification_id{notify}",
            (position, self.name, after, *params),
        )
        if cursor.fetchone() is None:
            raise PositionAlreadyProjected(
                f"{self.name} is no longer at position {after}: batch up to {position} refused"
            )

    def reset(self, cursor: Cursor, position: int) -> None:
        """Set the position outright (a rebuild), telling followers at commit."""
        cursor.execute(
            "UPDATE projection_tracking SET notification_id = %s WHERE application_name = %s",
            (position, self.name),
        )
        self.db.notify(cursor, self.channel, str(position))

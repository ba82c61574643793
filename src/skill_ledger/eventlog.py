"""Reading the event store's notification log directly, in order, in batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from skill_ledger.database import Cursor, as_uuid


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One stored event with its position in the notification log."""

    position: int
    stored: StoredEvent


class EventLog:
    """SQL on the library's tables: ledger_events (PostgreSQL) or stored_events (SQLite)."""

    def __init__(self, *, is_postgres: bool, mapper: Mapper[UUID]) -> None:
        self.is_postgres = is_postgres
        self.mapper = mapper
        if is_postgres:
            self.table = "ledger_events"
            self.position_column = "notification_id"
        else:
            self.table = "stored_events"
            self.position_column = "rowid"

    def read(
        self, cursor: Cursor, after: int, limit: int, upto: int | None = None
    ) -> list[LoggedEvent]:
        """Up to `limit` events after position `after` (and not past `upto`), in order."""
        pos = self.position_column
        sql = (
            f"SELECT {pos}, originator_id, originator_version, topic, state "
            f"FROM {self.table} WHERE {pos} > %s"
        )
        params: list[Any] = [after]
        if upto is not None:
            sql += f" AND {pos} <= %s"
            params.append(upto)
        sql += f" ORDER BY {pos} LIMIT %s"
        params.append(limit)
        cursor.execute(sql, params)
        return [
            LoggedEvent(
                position=row[0],
                stored=StoredEvent(
                    originator_id=as_uuid(row[1]),
                    originator_version=row[2],
                    topic=row[3],
                    state=bytes(row[4]),
                ),
            )
            for row in cursor.fetchall()
        ]

    def read_states(
        self, cursor: Cursor, after: int, limit: int, upto: int
    ) -> list[tuple[int, str, bytes]]:
        """(position, topic, state) of up to `limit` events in (after, upto], for bulk folds."""
        pos = self.position_column
        cursor.execute(
            f"SELECT {pos}, topic, state FROM {self.table} "
            f"WHERE {pos} > %s AND {pos} <= %s ORDER BY {pos} LIMIT %s",
            (after, upto, limit),
        )
        return cursor.fetchall()

    def max_position(self, cursor: Cursor) -> int:
        """The last position in the log, 0 when empty."""
        cursor.execute(f"SELECT MAX({self.position_column}) FROM {self.table}")
        row = cursor.fetchone()
        return int(row[0] or 0) if row else 0

    def count(self, cursor: Cursor) -> int:
        """How many events the log holds."""
        cursor.execute(f"SELECT COUNT(*) FROM {self.table}")
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def decode(self, event: LoggedEvent) -> Any:
        """The typed domain event."""
        return self.mapper.to_domain_event(event.stored)

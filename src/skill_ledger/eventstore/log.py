"""The one reader of the event tables: the notification log in order, streams, snapshots.

Every SQL statement over the library's event and snapshot tables is here; the projector, the
rebuild, the auditor and the audit trail all read through `EventLog`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent

from skill_ledger.database import Cursor, Database, StoredRow, as_uuid
from skill_ledger.eventstore.transcoder import TypedMapper


class LoggedEvent(NamedTuple):
    """One row of the events table exactly as stored: nothing decoded, nothing trusted."""

    position: int
    stream_id: str
    """As stored: hyphenated on PostgreSQL, 32 hex digits on SQLite."""
    version: int
    topic: str
    state: bytes

    def stored(self) -> StoredEvent:
        """The library's view of the row."""
        return StoredEvent(as_uuid(self.stream_id), self.version, self.topic, bytes(self.state))


class EventLog:
    """SQL on the library's tables, whichever backend holds them."""

    def __init__(self, db: Database, mapper: TypedMapper) -> None:
        self.db = db
        self.mapper = mapper
        self.table = db.events_table
        self.position_column = db.position_column
        self._select = (
            f"SELECT {db.position_column}, {db.stream_column}, originator_version, topic, state "
            f"FROM {db.events_table}"
        )

    def read(
        self, cursor: Cursor, after: int, limit: int, upto: int | None = None
    ) -> list[LoggedEvent]:
        """Up to `limit` events after position `after` (and not past `upto`), in order."""
        pos = self.position_column
        sql = f"{self._select} WHERE {pos} > %s"
        params: list[Any] = [after]
        if upto is not None:
            sql += f" AND {pos} <= %s"
            params.append(upto)
        rows = self.db.fetch_raw(cursor, f"{sql} ORDER BY {pos} LIMIT %s", [*params, limit])
        return [LoggedEvent(*row) for row in rows]

    def read_stream(
        self, cursor: Cursor, stream: UUID, upto_version: int | None = None
    ) -> list[LoggedEvent]:
        """One stream's events in version order (up to a version)."""
        sql = f"{self._select} WHERE originator_id = %s"
        params: list[Any] = [self.db.stream_param(stream)]
        if upto_version is not None:
            sql += " AND originator_version <= %s"
            params.append(upto_version)
        rows = self.db.fetch_raw(cursor, f"{sql} ORDER BY originator_version", params)
        return [LoggedEvent(*row) for row in rows]

    def read_streams_after(
        self, cursor: Cursor, after: Mapping[UUID, int]
    ) -> dict[UUID, list[LoggedEvent]]:
        """Several streams' events past a version each, in version order, in one query."""
        if not after:
            return {}
        clauses = " OR ".join(["(originator_id = %s AND originator_version > %s)"] * len(after))
        params: list[Any] = []
        for stream, version in after.items():
            params += [self.db.stream_param(stream), version]
        rows = self.db.fetch_raw(
            cursor, f"{self._select} WHERE {clauses} ORDER BY originator_version", params
        )
        found: dict[UUID, list[LoggedEvent]] = {stream: [] for stream in after}
        for row in rows:
            event = LoggedEvent(*row)
            found[as_uuid(event.stream_id)].append(event)
        return found

    def latest_snapshots(self, cursor: Cursor, streams: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        """The newest snapshot of each of these streams that has one, in one query."""
        if not streams:
            return {}
        marks = ", ".join(["%s"] * len(streams))
        rows = self.db.fetch_raw(
            cursor,
            f"SELECT {self.db.stream_column}, originator_version, topic, state "
            f"FROM {self.db.snapshots_table} WHERE originator_id IN ({marks}) "
            "ORDER BY originator_version",
            [self.db.stream_param(stream) for stream in streams],
        )
        latest: dict[UUID, StoredEvent] = {}
        for stream_id, version, topic, state in rows:
            stream = as_uuid(stream_id)
            latest[stream] = StoredEvent(stream, version, topic, bytes(state))
        return latest

    def read_topics(self, cursor: Cursor, topics: Sequence[str]) -> list[LoggedEvent]:
        """Every event of these types, in position order (the account events, for rebuilds)."""
        marks = ", ".join(["%s"] * len(topics))
        rows = self.db.fetch_raw(
            cursor,
            f"{self._select} WHERE topic IN ({marks}) ORDER BY {self.position_column}",
            list(topics),
        )
        return [LoggedEvent(*row) for row in rows]

    def append(self, cursor: Cursor, events: Sequence[DomainEventProtocol[UUID]]) -> list[int]:
        """Store domain events in the caller's transaction (the store's table lock held until
        its commit); their positions."""
        stored: list[StoredRow] = []
        for event in events:
            item = self.mapper.to_stored_event(event)
            stored.append(
                (as_uuid(item.originator_id), item.originator_version, item.topic, item.state)
            )
        return self.db.insert_events(cursor, stored)

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

    def read_snapshots(self, cursor: Cursor) -> list[tuple[str, StoredEvent]]:
        """Every stored snapshot, by stream and version, with its stream id as stored."""
        cursor.execute(
            f"SELECT {self.db.stream_column}, originator_version, topic, state "
            f"FROM {self.db.snapshots_table} ORDER BY originator_id, originator_version"
        )
        return [
            (row[0], StoredEvent(as_uuid(row[0]), row[1], row[2], bytes(row[3])))
            for row in cursor.fetchall()
        ]

    def misspelling(self, stream_id: str) -> str | None:
        """Why a stored stream id is not in this store's one spelling; None when it is."""
        try:
            canonical = self.db.stream_text(UUID(stream_id))
        except ValueError:
            return f"stream id {stream_id!r} is not a UUID"
        if stream_id == canonical:
            return None
        return f"stream id stored as {stream_id!r}, not as {canonical!r}"

    def max_position(self, cursor: Cursor) -> int:
        """The last position in the log, 0 when empty."""
        cursor.execute(f"SELECT MAX({self.position_column}) FROM {self.table}")
        row = cursor.fetchone()
        return int(row[0] or 0) if row else 0

    def stream_head(self, cursor: Cursor, stream: UUID) -> int:
        """The position of a stream's last event, 0 when it has none."""
        cursor.execute(
            f"SELECT {self.position_column} FROM {self.table} WHERE originator_id = %s "
            "ORDER BY originator_version DESC LIMIT 1",
            (self.db.stream_param(stream),),
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def count(self, cursor: Cursor) -> int:
        """How many events the log holds."""
        cursor.execute(f"SELECT COUNT(*) FROM {self.table}")
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def decode(self, event: LoggedEvent) -> Any:
        """The typed domain event."""
        return self.mapper.to_domain_event(event.stored())

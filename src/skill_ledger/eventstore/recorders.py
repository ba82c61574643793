"""The event store's PostgreSQL recorders: one round trip per insert, failing fast.

Inserts call `ledger_insert_events` (migration 2026_11_25_0950): the recorder's own lock, notify
and insert in one statement, so a batch of events costs one round trip instead of a pipeline and
an explicit commit (each step of which waits for the GIL behind busy request threads).

The library retries a failed call 10 times, 0.2 s apart, each time waiting for its pool: while the
database is down that holds every request for many seconds. Here a call fails at once and the
caller answers 503; the database's breaker (database.py) keeps later calls from even trying.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)

INSERT_EVENTS = "SELECT ledger_insert_events(%s::stored_event_uuid[])"


def _unretried(method: Any) -> Any:
    return getattr(method, "__wrapped__", method)


class FailFastAggregateRecorder(PostgresAggregateRecorder):
    """Snapshots: no hidden retries."""

    insert_events = _unretried(PostgresAggregateRecorder.insert_events)
    select_events = _unretried(PostgresAggregateRecorder.select_events)


class FailFastApplicationRecorder(PostgresApplicationRecorder):
    """Events: one-call inserts under the same table lock, no hidden retries."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        """Insert under the EXCLUSIVE table lock and NOTIFY, in one autocommitted statement."""
        if not stored_events:
            return []
        rows = [
            self.construct_pg_stored_event(
                event.originator_id, event.originator_version, event.topic, event.state
            )
            for event in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(INSERT_EVENTS, (rows,), prepare=True)
            return [row["ledger_insert_events"] for row in cursor.fetchall()]

    select_events = _unretried(PostgresApplicationRecorder.select_events)
    select_notifications = _unretried(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _unretried(PostgresApplicationRecorder.max_notification_id)


class LedgerPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory with fail-fast recorders."""

    aggregate_recorder_class = FailFastAggregateRecorder
    application_recorder_class = FailFastApplicationRecorder

"""The event store's PostgreSQL recorders, failing fast instead of retrying for seconds.

The library retries a failed call 10 times, 0.2 s apart, each time waiting for its pool: while the
database is down that holds every request for many seconds. Here a call fails at once and the
caller answers 503; the database's breaker (database.py) keeps later calls from even trying.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)


def _unretried(method: Any) -> Any:
    return getattr(method, "__wrapped__", method)


class FailFastAggregateRecorder(PostgresAggregateRecorder):
    """Snapshots: no hidden retries."""

    insert_events = _unretried(PostgresAggregateRecorder.insert_events)
    select_events = _unretried(PostgresAggregateRecorder.select_events)


class FailFastApplicationRecorder(PostgresApplicationRecorder):
    """Events: no hidden retries (the table lock and NOTIFY stay as the library does them)."""

    insert_events = _unretried(PostgresApplicationRecorder.insert_events)
    select_events = _unretried(PostgresApplicationRecorder.select_events)
    select_notifications = _unretried(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _unretried(PostgresApplicationRecorder.max_notification_id)


class LedgerPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory with fail-fast recorders."""

    aggregate_recorder_class = FailFastAggregateRecorder
    application_recorder_class = FailFastApplicationRecorder

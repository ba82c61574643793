"""Checks on what a server left in its database: events, streams, projection and read table."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any
from uuid import UUID

from skill_ledger.domain import REPLACED_BY_NEW, Assessment, SkillRecord, fold
from skill_ledger.services import Services

LOG_FAILURES = ("projector_failed", "projector_crashed", "unhandled_error")
ACTIVE_PER_PAIR = (
    "SELECT coalesce(max(active), 0) FROM (SELECT count(*) AS active "
    "FROM football_skill_assessments WHERE status IN ('ASSESSED', 'VALIDATED') "
    "GROUP BY user_license_id, skill_name) AS pairs"
)


def all_events(services: Services) -> list[Any]:
    """Every event of the notification log, decoded, in log order."""
    events: list[Any] = []
    position = 0
    while True:
        with services.db.transaction(write=False) as cursor:
            logged = services.eventlog.read(cursor, position, 10_000)
        if not logged:
            return events
        events.extend(services.eventlog.decode(item) for item in logged)
        position = logged[-1].position


def wait_projected(services: Services, timeout: float) -> tuple[int, int]:
    """Poll until the projection reaches the head of the log; (position, head) at the end."""
    deadline = time.monotonic() + timeout
    while True:
        status = services.projector.status()
        if status.lag_events == 0 or time.monotonic() > deadline:
            return status.position, status.head
        time.sleep(0.05)


def table_and_fold(services: Services) -> tuple[dict[UUID, Assessment], dict[UUID, Assessment]]:
    """The read table, and what the pure fold over the whole log says it must be."""
    return services.readmodel.all(), fold({}, all_events(services))


def max_active_per_pair(services: Services) -> int:
    """The largest number of active assessments any pair has in the read table right now."""
    with services.db.transaction(write=False) as cursor:
        cursor.execute(ACTIVE_PER_PAIR)
        row = cursor.fetchone()
    return int(row[0])


def is_replaced(event: Any) -> bool:
    """An Archived event written by a replacement."""
    return isinstance(event, SkillRecord.Archived) and event.reason == REPLACED_BY_NEW


def replaces(event: Any, assessment_id: UUID) -> bool:
    """An Assessed event that replaces this assessment."""
    return isinstance(event, SkillRecord.Assessed) and event.replaces == assessment_id


def stream_defects(events: list[Any]) -> list[str]:
    """Broken streams: gaps in versions, or a replacement missing one of its two events."""
    streams: dict[UUID, list[Any]] = defaultdict(list)
    for event in events:
        streams[event.originator_id].append(event)
    defects: list[str] = []
    for stream, stream_events in streams.items():
        stream_events.sort(key=lambda e: e.originator_version)
        versions = [e.originator_version for e in stream_events]
        if versions != list(range(1, len(versions) + 1)):
            defects.append(f"{stream}: versions {versions[:10]}… are not 1..n")
        for index, event in enumerate(stream_events):
            previous = stream_events[index - 1] if index > 0 else None
            following = stream_events[index + 1] if index + 1 < len(stream_events) else None
            if is_replaced(event) and not replaces(following, event.assessment_id):
                defects.append(f"{stream} v{versions[index]}: Archived without its Assessed")
            replacing = isinstance(event, SkillRecord.Assessed) and event.replaces is not None
            if replacing and not (
                is_replaced(previous) and previous.assessment_id == event.replaces
            ):
                defects.append(f"{stream} v{versions[index]}: Assessed without its Archived")
    return defects


def log_failures(log: str) -> list[str]:
    """Lines of a server log that report a projector failure or an unhandled error."""
    return [line for line in log.splitlines() if any(word in line for word in LOG_FAILURES)]

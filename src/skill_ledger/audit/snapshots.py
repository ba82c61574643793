"""Snapshots checked: each one must equal the replay of its stream's events up to its version."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from skill_ledger.audit.findings import Finding, FindingKind, VerifyReport
from skill_ledger.audit.records import decode_event
from skill_ledger.audit.verify import LogWalk
from skill_ledger.database import Cursor, as_uuid
from skill_ledger.domain import SkillRecord
from skill_ledger.eventstore.log import EventLog, LoggedEvent
from skill_ledger.eventstore.transcoder import TypedMapper

SNAPSHOT_TOPIC = get_topic(SkillRecord.Snapshot)
SNAPSHOT_FIELDS = ("license_id", "skill_name", "active", "archived", "last_archived", "last_hash")


def _replay(events: list[LoggedEvent], mapper: TypedMapper) -> dict[int, Any]:
    """A clean stream's record state (as a snapshot would hold it) after each version."""
    states: dict[int, Any] = {}
    record: Any = None
    for raw in events:
        record = decode_event(raw, mapper).mutate(record)
        states[record.version] = SkillRecord.Snapshot.take(record).state
    return states


def check_snapshots(cursor: Cursor, eventlog: EventLog, walk: LogWalk) -> None:
    """Each snapshot must equal the replay of its stream's events up to its version."""
    by_stream: dict[UUID, list[StoredEvent]] = {}
    for stored_id, stored in eventlog.read_snapshots(cursor):
        wrong = eventlog.misspelling(stored_id)
        if wrong is not None:
            walk.report.add(
                Finding(
                    FindingKind.NON_CANONICAL,
                    f"snapshot {wrong}",
                    str(stored.originator_id),
                    stored.originator_version,
                )
            )
        by_stream.setdefault(as_uuid(stored.originator_id), []).append(stored)
    for stream, snapshots in by_stream.items():
        if str(stream) in walk.flagged:
            continue  # the stream's own findings already explain any difference
        tip = walk.tips.get(str(stream))
        events = eventlog.read_stream(cursor, stream, snapshots[-1].originator_version)
        replayed = _replay(events, eventlog.mapper)
        for stored in snapshots:
            walk.report.snapshots_checked += 1
            _check_snapshot(eventlog.mapper, walk.report, stored, replayed, tip[0] if tip else 0)


def _check_snapshot(
    mapper: TypedMapper,
    report: VerifyReport,
    stored: StoredEvent,
    replayed: dict[int, Any],
    last: int,
) -> None:
    stream, version = str(stored.originator_id), stored.originator_version
    if version > last:
        report.add(
            Finding(
                FindingKind.DELETED_EVENT,
                f"a snapshot records version {version} but the stream ends at version {last}",
                stream,
                version,
            )
        )
        return
    snapshot: Any = None
    if stored.topic == SNAPSHOT_TOPIC:
        try:
            snapshot = mapper.to_domain_event(stored)
        except (MapperDeserialisationError, AttributeError):
            snapshot = None
    expected = replayed.get(version)
    if snapshot is None or expected is None:
        report.add(
            Finding(
                FindingKind.SNAPSHOT_DRIFT,
                "the snapshot cannot be read, or names a version the stream never had",
                stream,
                version,
            )
        )
        return
    for name in SNAPSHOT_FIELDS:
        if getattr(snapshot.state, name) != getattr(expected, name):
            report.add(
                Finding(
                    FindingKind.SNAPSHOT_DRIFT,
                    f"snapshot {name} differs from the replay of versions 1–{version}",
                    stream,
                    version,
                    column=name,
                )
            )

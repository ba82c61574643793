"""Auditing the ledger: export the log, checkpoint its digest, verify chains and projection.

The algorithm (hash chain per stream, checkpoint digest over the whole log) is specified in
docs/audit.md; everything here works from the raw stored rows, never from snapshots or caches.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any, Literal, NamedTuple
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from skill_ledger.database import Cursor, Database, as_optional_time, as_uuid
from skill_ledger.domain import (
    GENESIS_HASH,
    Assessment,
    SkillRecord,
    chain_hash,
    fold,
    format_time,
    record_id,
)
from skill_ledger.eventlog import EventLog
from skill_ledger.projector import PROJECTION_NAME
from skill_ledger.readmodel import COLUMNS, SELECT, row_values

READ_BATCH = 10_000
TABLE_BATCH = 10_000
MAX_FINDINGS = 10_000
ACTOR_FIELDS = ("assessed_by", "validated_by", "archived_by")
EXPORT_COLUMNS = (
    "position",
    "stream",
    "version",
    "type",
    "time",
    "actor",
    "role",
    "payload",
    "prev_hash",
    "hash",
)
EVENT_CLASSES = {
    get_topic(cls): cls
    for cls in (SkillRecord.Assessed, SkillRecord.Validated, SkillRecord.Archived)
}
EVENT_TYPES = {topic: cls.__name__ for topic, cls in EVENT_CLASSES.items()}
SNAPSHOT_TOPIC = get_topic(SkillRecord.Snapshot)
SNAPSHOT_FIELDS = ("license_id", "skill_name", "active", "archived", "last_archived", "last_hash")

ExportFormat = Literal["jsonl", "csv"]
ProgressCallback = Callable[[int, int], None]

_json = msgspec.json.Decoder()
_sorted_json = msgspec.json.Encoder(order="sorted")


class CheckpointInvalid(ValueError):
    """A checkpoint document is not a checkpoint this ledger wrote."""


# --- one stored event, as auditors see it -----------------------------------------------------


def event_type(topic: str) -> str:
    """The event type: the last part of the stored topic (…:SkillRecord.Assessed → Assessed)."""
    return topic.rpartition(".")[2].rpartition(":")[2]


class RawEvent(NamedTuple):
    """One row of the events table exactly as stored: nothing decoded, nothing trusted."""

    position: int
    stream_id: str  # hyphenated on PostgreSQL, 32 hex digits on SQLite
    version: int
    topic: str
    state: bytes

    def stored(self) -> StoredEvent:
        """The library's view of the row."""
        return StoredEvent(as_uuid(self.stream_id), self.version, self.topic, bytes(self.state))


class EventRecord(msgspec.Struct, frozen=True):
    """One stored event: position, stream, version, type, time, actor, payload and hash chain.

    `payload` is the stored JSON object without `prev_hash` and `hash` (which have their own
    fields); it is None, like the hashes, when the stored state is not a JSON object. Encoded
    with msgspec it is one line of the JSONL export.
    """

    position: int
    stream: str
    version: int
    type: str
    time: str | None
    actor: int | None
    role: str | None
    payload: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None

    @property
    def readable(self) -> bool:
        """The stored state is a JSON object carrying prev_hash and hash."""
        return self.payload is not None and self.prev_hash is not None and self.hash is not None

    def recomputed_hash(self) -> str | None:
        """The hash the stored content implies (None when there is no content to hash)."""
        if self.payload is None or self.prev_hash is None:
            return None
        return chain_hash(self.stream, self.version, self.type, self.payload, self.prev_hash)

    def hash_verifies(self) -> bool:
        """The stored hash is the hash of the stored content.

        msgspec's sorted encoding is tried first (several times faster): when it hashes to the
        stored hash, its bytes are the very bytes hashed when the event was written, so the
        canonical encoding of docs/audit.md agrees. Otherwise the canonical encoding decides.
        """
        if not self.readable:
            return False
        document = {
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "stream": self.stream,
            "type": self.type,
            "version": self.version,
        }
        if hashlib.sha256(_sorted_json.encode(document)).hexdigest() == self.hash:
            return True
        return self.recomputed_hash() == self.hash

    def to_json(self) -> dict[str, Any]:
        """The export's JSON object (keys in EXPORT_COLUMNS order)."""
        return {name: getattr(self, name) for name in EXPORT_COLUMNS}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def record_of(raw: RawEvent, eventlog: EventLog) -> EventRecord:
    """The auditor's view of one raw stored row (tolerates rows that are not valid JSON)."""
    try:
        document = _json.decode(_plain_state(eventlog, raw.state))
    except msgspec.DecodeError:
        document = None
    payload = prev_hash = digest = time_ = role = actor = None
    if type(document) is dict:
        prev_hash = _text(document.pop("prev_hash", None))
        digest = _text(document.pop("hash", None))
        payload = document
        time_ = _text(document.get("timestamp"))
        role = _text(document.get("actor_role"))
        for name in ACTOR_FIELDS:
            value = document.get(name)
            if type(value) is int:
                actor = value
                break
    return EventRecord(
        raw.position,
        _stream_text(raw.stream_id),
        raw.version,
        EVENT_TYPES.get(raw.topic) or event_type(raw.topic),
        time_,
        actor,
        role,
        payload,
        prev_hash,
        digest,
    )


def _stream_text(stream_id: str) -> str:
    """The stream id hyphenated (SQLite stores 32 hex digits); anything else as it is."""
    if len(stream_id) == 32:
        try:
            return str(UUID(stream_id))
        except ValueError:
            return stream_id
    return stream_id


def _plain_state(eventlog: EventLog, data: bytes) -> bytes:
    mapper = eventlog.mapper
    if mapper.cipher:
        data = mapper.cipher.decrypt(data)
    if mapper.compressor:
        data = mapper.compressor.decompress(data)
    return data


def decode_event(raw: RawEvent, eventlog: EventLog, record: EventRecord | None = None) -> Any:
    """The typed domain event, or None when the row is not a known, well-formed event.

    Only the ledger's own event topics are resolved: a forged topic never makes the auditor
    import a module. The common case converts the already parsed payload; events that need
    upcasting go through the application's mapper.
    """
    cls = EVENT_CLASSES.get(raw.topic)
    if cls is None:
        return None
    record = record or record_of(raw, eventlog)
    payload = record.payload
    if payload is None or not record.readable:
        return None
    if "class_version" in payload or getattr(cls, "class_version", 1) != 1:
        try:
            return eventlog.mapper.to_domain_event(raw.stored())
        except (MapperDeserialisationError, AttributeError, ValueError):
            # AttributeError: a tampered class_version names an upcaster that does not exist.
            return None
    state = dict(payload)
    state["prev_hash"] = record.prev_hash
    state["hash"] = record.hash
    state["originator_version"] = raw.version
    try:
        state["originator_id"] = UUID(record.stream)
        return msgspec.convert(state, cls)
    except (msgspec.ValidationError, ValueError):
        return None


def _fetch(cursor: Cursor, sql: str, params: Sequence[Any]) -> list[RawEvent]:
    if isinstance(cursor, psycopg.Cursor):
        cursor.execute(sql, params, binary=True)  # bytea as raw bytes: no hex round trip
    else:
        cursor.execute(sql, params)
    return [RawEvent(*row) for row in cursor.fetchall()]


def _select(eventlog: EventLog) -> str:
    stream = "originator_id::text" if eventlog.is_postgres else "originator_id"
    return (
        f"SELECT {eventlog.position_column}, {stream}, originator_version, topic, state "
        f"FROM {eventlog.table}"
    )


def read_events(
    cursor: Cursor, eventlog: EventLog, after: int, limit: int, upto: int | None = None
) -> list[RawEvent]:
    """Up to `limit` raw events after position `after` (and not past `upto`), in order."""
    pos = eventlog.position_column
    sql = f"{_select(eventlog)} WHERE {pos} > %s"
    params: list[Any] = [after]
    if upto is not None:
        sql += f" AND {pos} <= %s"
        params.append(upto)
    return _fetch(cursor, f"{sql} ORDER BY {pos} LIMIT %s", [*params, limit])


def read_stream(
    cursor: Cursor, eventlog: EventLog, stream: UUID, upto_version: int | None = None
) -> list[RawEvent]:
    """One stream's raw events in version order (up to a version)."""
    sql = f"{_select(eventlog)} WHERE originator_id = %s"
    # The library's SQLite recorder stores stream ids as 32 hex digits.
    params: list[Any] = [stream if eventlog.is_postgres else stream.hex]
    if upto_version is not None:
        sql += " AND originator_version <= %s"
        params.append(upto_version)
    return _fetch(cursor, f"{sql} ORDER BY originator_version", params)


# --- the checkpoint digest -------------------------------------------------------------------


def digest_step(digest: str, position: int, event_hash: str) -> str:
    """d_n = SHA-256(d_{n-1} ":" position ":" hash_n), hex; d_0 is 64 zeros (docs/audit.md)."""
    return hashlib.sha256(f"{digest}:{position}:{event_hash}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log's digest up to a position, to be kept outside the database."""

    position: int
    events: int
    digest: str
    time: str
    last_stream: str | None = None
    last_version: int | None = None
    last_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The checkpoint file's JSON object."""
        return {
            "position": self.position,
            "events": self.events,
            "digest": self.digest,
            "time": self.time,
            "last_stream": self.last_stream,
            "last_version": self.last_version,
            "last_hash": self.last_hash,
        }

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """Parse a checkpoint file's JSON object; CheckpointInvalid when it is not one."""
        try:
            checkpoint = msgspec.convert(data, cls)
        except msgspec.ValidationError as e:
            raise CheckpointInvalid(f"not a ledger checkpoint: {e}") from None
        if len(checkpoint.digest) != 64 or checkpoint.position < 0 or checkpoint.events < 0:
            raise CheckpointInvalid("not a ledger checkpoint: bad digest, position or events")
        return checkpoint


# --- findings ----------------------------------------------------------------------------------


class FindingKind(StrEnum):
    """What verification found wrong."""

    EDITED_PAYLOAD = "edited-payload"
    CHAIN_BREAK = "chain-break"
    DELETED_EVENT = "deleted-event"
    REORDERED = "reordered"
    UNREADABLE_EVENT = "unreadable-event"
    REPLAY_FAILED = "replay-failed"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"
    SNAPSHOT_DRIFT = "snapshot-drift"
    READ_TABLE_MISSING_ROW = "read-table-missing-row"
    READ_TABLE_EXTRA_ROW = "read-table-extra-row"
    READ_TABLE_DIFFERING_ROW = "read-table-differing-row"


@dataclass(frozen=True, slots=True)
class Finding:
    """One precise discrepancy: its kind, where it is, and what was expected."""

    kind: FindingKind
    detail: str
    stream: str | None = None
    version: int | None = None
    position: int | None = None
    assessment_id: str | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [
            f"{label} {value}"
            for label, value in (
                ("stream", self.stream),
                ("version", self.version),
                ("position", self.position),
                ("assessment", self.assessment_id),
                ("column", self.column),
            )
            if value is not None
        ]
        return f"{self.kind.value}: {' '.join(where)}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {
            "kind": self.kind.value,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "assessment_id": self.assessment_id,
            "column": self.column,
            "detail": self.detail,
        }


@dataclass(slots=True)
class VerifyReport:
    """What verification covered and what it found."""

    events: int = 0
    streams: int = 0
    head: int = 0
    projected_position: int = 0
    rows_compared: int = 0
    snapshots_checked: int = 0
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    findings_dropped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)

    def add(self, finding: Finding) -> None:
        """Keep a finding (at most MAX_FINDINGS; the rest are only counted)."""
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)
        else:
            self.findings_dropped += 1

    def of_kind(self, kind: FindingKind) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind is kind]


@dataclass(frozen=True, slots=True)
class ExportStats:
    """What an export wrote."""

    events: int
    position: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


# --- the auditor -------------------------------------------------------------------------------


class Audit:
    """Export, checkpoint and verify, each in one consistent read-only snapshot of the database."""

    def __init__(
        self,
        db: Database,
        eventlog: EventLog,
        *,
        batch_size: int = READ_BATCH,
        projection: str = PROJECTION_NAME,
    ) -> None:
        self.db = db
        self.eventlog = eventlog
        self.batch_size = batch_size
        self.projection = projection

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A read-only transaction that sees one moment of the database throughout."""
        with self.db.transaction(write=False) as cursor:
            if self.db.is_postgres:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    def batches(self, cursor: Cursor, upto: int, after: int = 0) -> Iterator[list[RawEvent]]:
        """The raw log in position order, `batch_size` rows per query, up to `upto`."""
        while after < upto:
            rows = read_events(cursor, self.eventlog, after, self.batch_size, upto)
            if not rows:
                return
            yield rows
            after = rows[-1].position

    # -- export ---------------------------------------------------------------------------

    def export(
        self,
        out: IO[bytes],
        fmt: ExportFormat = "jsonl",
        on_progress: ProgressCallback | None = None,
    ) -> ExportStats:
        """Write every event in position order as JSON lines or CSV, in constant memory."""
        started = time.perf_counter()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="") if fmt == "csv" else None
        writer = csv.writer(text) if text is not None else None
        if writer is not None:
            writer.writerow(EXPORT_COLUMNS)
        encoder = msgspec.json.Encoder()  # an EventRecord encodes as one export object
        done = position = 0
        try:
            with self.snapshot() as cursor:
                head = self.eventlog.max_position(cursor)
                total = self.eventlog.count(cursor)
                for rows in self.batches(cursor, head):
                    records = [record_of(row, self.eventlog) for row in rows]
                    if writer is None:
                        out.write(encoder.encode_lines(records))
                    else:
                        writer.writerows(map(csv_row, records))
                    done += len(records)
                    position = records[-1].position
                    if on_progress is not None:
                        on_progress(done, total)
        finally:
            if text is not None:
                text.flush()
                text.detach()
        return ExportStats(done, position, time.perf_counter() - started)

    # -- checkpoint -----------------------------------------------------------------------

    def checkpoint(self, on_progress: ProgressCallback | None = None) -> Checkpoint:
        """The digest of every event up to the log's head."""
        digest, events, last = GENESIS_HASH, 0, None
        with self.snapshot() as cursor:
            head = self.eventlog.max_position(cursor)
            total = self.eventlog.count(cursor)
            for rows in self.batches(cursor, head):
                for row in rows:
                    last = record_of(row, self.eventlog)
                    digest = digest_step(digest, last.position, last.hash or "")
                events += len(rows)
                if on_progress is not None:
                    on_progress(events, total)
        return Checkpoint(
            position=last.position if last else 0,
            events=events,
            digest=digest,
            time=format_time(datetime.now(UTC)),
            last_stream=last.stream if last else None,
            last_version=last.version if last else None,
            last_hash=last.hash if last else None,
        )

    # -- verify ---------------------------------------------------------------------------

    def verify(
        self,
        checkpoint: Checkpoint | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> VerifyReport:
        """Check every stream's chain, the checkpoint, the snapshots and the read table."""
        started = time.perf_counter()
        report = VerifyReport(checkpoint=checkpoint)
        with self.snapshot() as cursor:
            report.head = self.eventlog.max_position(cursor)
            total = self.eventlog.count(cursor)
            report.projected_position = self._projected_position(cursor)
            walk = _LogWalk(report, self.eventlog, checkpoint)
            for rows in self.batches(cursor, report.head):
                for row in rows:
                    walk.visit(row)
                if on_progress is not None:
                    on_progress(report.events, total)
            walk.finish()
            self._check_snapshots(cursor, walk)
            self._diff_read_table(cursor, walk)
        report.seconds = time.perf_counter() - started
        return report

    def _projected_position(self, cursor: Cursor) -> int:
        cursor.execute(
            "SELECT notification_id FROM projection_tracking WHERE application_name = %s",
            (self.projection,),
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _check_snapshots(self, cursor: Cursor, walk: _LogWalk) -> None:
        """Each snapshot must equal the replay of its stream's events up to its version."""
        table = "ledger_snapshots" if self.eventlog.is_postgres else "stored_snapshots"
        cursor.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table} "
            "ORDER BY originator_id, originator_version"
        )
        by_stream: dict[UUID, list[StoredEvent]] = {}
        for row in cursor.fetchall():
            stored = StoredEvent(as_uuid(row[0]), row[1], row[2], bytes(row[3]))
            by_stream.setdefault(as_uuid(stored.originator_id), []).append(stored)
        for stream, snapshots in by_stream.items():
            if str(stream) in walk.flagged:
                continue  # the stream's own findings already explain any difference
            tip = walk.tips.get(str(stream))
            events = read_stream(cursor, self.eventlog, stream, snapshots[-1].originator_version)
            replayed = _replay(events, self.eventlog)
            for stored in snapshots:
                walk.report.snapshots_checked += 1
                self._check_snapshot(walk.report, stored, replayed, tip[0] if tip else 0)

    def _check_snapshot(
        self, report: VerifyReport, stored: StoredEvent, replayed: dict[int, Any], last: int
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
                snapshot = self.eventlog.mapper.to_domain_event(stored)
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

    def _diff_read_table(self, cursor: Cursor, walk: _LogWalk) -> None:
        """Compare the live read table, column by column, with the projection rebuilt in memory."""
        expected = walk.rows
        report = walk.report
        after: Any = None
        while True:
            if after is None:
                cursor.execute(f"{SELECT} ORDER BY id LIMIT %s", (TABLE_BATCH,))
            else:
                cursor.execute(f"{SELECT} WHERE id > %s ORDER BY id LIMIT %s", (after, TABLE_BATCH))
            rows = cursor.fetchall()
            for row in rows:
                report.rows_compared += 1
                live = _normal_row(row)
                want = expected.pop(live[0], None)
                if want is None:
                    report.add(
                        Finding(
                            FindingKind.READ_TABLE_EXTRA_ROW,
                            "the read table has a row that no event up to the projection's "
                            f"position {report.projected_position} produces",
                            str(record_id(live[1], live[2])),
                            assessment_id=str(live[0]),
                        )
                    )
                    continue
                self._diff_row(report, walk, want, live)
            if len(rows) < TABLE_BATCH:
                break
            after = rows[-1][0]
        for missing in expected.values():
            stream, version, position = walk.touched[missing.id]
            report.add(
                Finding(
                    FindingKind.READ_TABLE_MISSING_ROW,
                    "the events produce this row but the read table lacks it",
                    stream,
                    version,
                    position,
                    assessment_id=str(missing.id),
                )
            )

    @staticmethod
    def _diff_row(
        report: VerifyReport, walk: _LogWalk, want: Assessment, live: tuple[Any, ...]
    ) -> None:
        expected = row_values(want)
        if expected == live:
            return
        stream, version, position = walk.touched[want.id]
        for column, should, actual in zip(COLUMNS, expected, live, strict=True):
            if should != actual:
                report.add(
                    Finding(
                        FindingKind.READ_TABLE_DIFFERING_ROW,
                        f"read table has {_show(actual)}, the events give {_show(should)}",
                        stream,
                        version,
                        position,
                        assessment_id=str(want.id),
                        column=column,
                    )
                )


def csv_row(record: EventRecord) -> list[Any]:
    """An event as a CSV row (EXPORT_COLUMNS; the payload as compact JSON, keys sorted)."""
    payload = _sorted_json.encode(record.payload).decode() if record.payload is not None else ""
    return [
        record.position,
        record.stream,
        record.version,
        record.type,
        record.time or "",
        "" if record.actor is None else record.actor,
        record.role or "",
        payload,
        record.prev_hash or "",
        record.hash or "",
    ]


TIME_COLUMNS = frozenset(i for i, name in enumerate(COLUMNS) if name.endswith("_at"))
PERCENTAGE = COLUMNS.index("percentage")
REQUIRES_VALIDATION = COLUMNS.index("requires_validation")


def _normal_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A read-table row (COLUMNS order) with the types row_values() gives, on either backend."""
    values = list(row)
    with suppress(ValueError):  # a forged SQLite row may hold any text; it stays as it is
        values[0] = as_uuid(values[0])
    values[PERCENTAGE] = round(float(values[PERCENTAGE]), 2)
    values[REQUIRES_VALIDATION] = bool(values[REQUIRES_VALIDATION])
    for i in TIME_COLUMNS:
        if values[i] is not None and not isinstance(values[i], datetime):
            values[i] = as_optional_time(values[i])  # SQLite keeps RFC 3339 text
    return tuple(values)


def _replay(events: list[RawEvent], eventlog: EventLog) -> dict[int, Any]:
    """A clean stream's record state (as a snapshot would hold it) after each version."""
    states: dict[int, Any] = {}
    record: Any = None
    for raw in events:
        record = decode_event(raw, eventlog).mutate(record)
        states[record.version] = SkillRecord.Snapshot.take(record).state
    return states


class _LogWalk:
    """One pass over the log in position order: chains, order, digest and the projection."""

    def __init__(
        self, report: VerifyReport, eventlog: EventLog, checkpoint: Checkpoint | None
    ) -> None:
        self.report = report
        self.eventlog = eventlog
        self.checkpoint = checkpoint
        self.tips: dict[str, tuple[int, str | None]] = {}
        self.gaps: dict[str, set[int]] = {}
        self.flagged: set[str] = set()
        self.rows: dict[UUID, Assessment] = {}
        self.touched: dict[UUID, tuple[str, int, int]] = {}
        self.digest = GENESIS_HASH
        self.digested = 0
        self.checkpoint_seen = False
        self.projected_seen = False

    def flag(self, finding: Finding) -> None:
        """Report a finding about one stream's events."""
        self.report.add(finding)
        if finding.stream is not None:
            self.flagged.add(finding.stream)

    def visit(self, raw: RawEvent) -> None:
        """Check one stored event and fold it into the rebuilt projection."""
        self.report.events += 1
        record = record_of(raw, self.eventlog)
        self._check_content(record)
        self._check_order(record)
        self._digest(record)
        if record.position == self.report.projected_position:
            self.projected_seen = True
        event = self._decode(raw, record)
        if event is not None and record.position <= self.report.projected_position:
            self._project(event, record)

    def _check_content(self, record: EventRecord) -> None:
        where = (record.stream, record.version, record.position)
        if not record.readable:
            self.flag(
                Finding(
                    FindingKind.UNREADABLE_EVENT,
                    "the stored state is not a JSON object with prev_hash and hash",
                    *where,
                )
            )
            return
        if not record.hash_verifies():
            recomputed = record.recomputed_hash()
            self.flag(
                Finding(
                    FindingKind.EDITED_PAYLOAD,
                    f"stored hash {record.hash} but the stored {record.type} content hashes "
                    f"to {recomputed}",
                    *where,
                )
            )

    def _check_order(self, record: EventRecord) -> None:
        where = (record.stream, record.version, record.position)
        stream = record.stream
        last, last_hash = self.tips.get(stream, (0, GENESIS_HASH))
        version = record.version
        if version == last + 1:
            if record.prev_hash is not None and record.prev_hash != last_hash:
                self.flag(
                    Finding(
                        FindingKind.CHAIN_BREAK,
                        f"prev_hash {record.prev_hash} is not the hash of version {last} "
                        f"({last_hash})",
                        *where,
                    )
                )
        elif version > last + 1:
            self.gaps.setdefault(stream, set()).update(range(last + 1, version))
        else:
            self.gaps.get(stream, set()).discard(version)
            self.flag(
                Finding(
                    FindingKind.REORDERED,
                    f"version {version} comes after version {last} in the log "
                    "(positions out of version order)",
                    *where,
                )
            )
            return
        self.tips[stream] = (version, record.hash)

    def _digest(self, record: EventRecord) -> None:
        checkpoint = self.checkpoint
        if checkpoint is None or record.position > checkpoint.position:
            return
        self.digest = digest_step(self.digest, record.position, record.hash or "")
        self.digested += 1
        if record.position == checkpoint.position:
            self.checkpoint_seen = True

    def _decode(self, raw: RawEvent, record: EventRecord) -> Any:
        event = decode_event(raw, self.eventlog, record)
        if event is None and record.readable:
            self.flag(
                Finding(
                    FindingKind.UNREADABLE_EVENT,
                    f"not a well-formed ledger event of type {record.type}",
                    record.stream,
                    record.version,
                    record.position,
                )
            )
        return event

    def _project(self, event: Any, record: EventRecord) -> None:
        where = (record.stream, record.version, record.position)
        try:
            fold(self.rows, (event,))
        except KeyError:
            self.flag(
                Finding(
                    FindingKind.REPLAY_FAILED,
                    f"{record.type} refers to assessment {event.assessment_id}, "
                    "which no earlier event created",
                    *where,
                )
            )
            return
        self.touched[event.assessment_id] = where

    def finish(self) -> None:
        """Findings only the whole log reveals: gaps, the checkpoint, the projection's position."""
        report = self.report
        report.streams = len(self.tips)
        for stream, versions in self.gaps.items():
            for version in sorted(versions):
                self.flag(
                    Finding(
                        FindingKind.DELETED_EVENT,
                        f"version {version} is missing between versions the log holds",
                        stream,
                        version,
                    )
                )
        checkpoint = self.checkpoint
        reported: set[int] = set()
        if checkpoint is not None and checkpoint.position > 0 and not self.checkpoint_seen:
            reported.add(checkpoint.position)
            self.flag(
                Finding(
                    FindingKind.DELETED_EVENT,
                    f"the checkpoint's last event (hash {checkpoint.last_hash}) is gone",
                    checkpoint.last_stream,
                    checkpoint.last_version,
                    checkpoint.position,
                )
            )
        if checkpoint is not None and self.digest != checkpoint.digest:
            report.add(
                Finding(
                    FindingKind.CHECKPOINT_MISMATCH,
                    f"the log up to position {checkpoint.position} now holds {self.digested} "
                    f"events digesting to {self.digest}; the checkpoint of {checkpoint.time} "
                    f"recorded {checkpoint.events} events digesting to {checkpoint.digest} "
                    f"({_suspect(self.digested, checkpoint.events)})",
                    position=checkpoint.position,
                )
            )
        position = report.projected_position
        if position > 0 and not self.projected_seen and position not in reported:
            report.add(
                Finding(
                    FindingKind.DELETED_EVENT,
                    f"the projection applied the event at position {position}, which the log "
                    f"no longer holds (log head {report.head})",
                    position=position,
                )
            )


def _suspect(now: int, then: int) -> str:
    if now < then:
        return f"events deleted: {then - now}"
    if now > then:
        return f"events inserted: {now - then}"
    return "events edited or reordered"


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    return "null" if value is None else repr(value)

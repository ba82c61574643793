"""The verify walk: every chain, the checkpoint digest, snapshots and the read table, checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any
from uuid import UUID

from skill_ledger.audit.accounts import AccountWalk
from skill_ledger.audit.checkpoint import Checkpoint, digest_step
from skill_ledger.audit.findings import Finding, FindingKind, VerifyReport
from skill_ledger.audit.records import EventRecord, decode_event, record_of
from skill_ledger.database import Cursor, as_optional_time, as_uuid
from skill_ledger.domain import (
    COLUMNS,
    GENESIS_HASH,
    Assessment,
    TableEffect,
    fold,
    format_time,
    record_id,
)
from skill_ledger.eventstore.log import LoggedEvent
from skill_ledger.eventstore.transcoder import EVENTS_BY_TOPIC, TypedMapper
from skill_ledger.readside.table import SELECT, row_values

TABLE_BATCH = 10_000
TOPICS_BY_TYPE = {cls.__name__: topic for topic, cls in EVENTS_BY_TOPIC.items()}


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


class LogWalk:
    """One pass over the log in position order: chains, order, digest and the projection."""

    def __init__(
        self,
        report: VerifyReport,
        mapper: TypedMapper,
        checkpoint: Checkpoint | None,
        misspelling: Callable[[str], str | None] | None = None,
    ) -> None:
        self.report = report
        self.mapper = mapper
        self.checkpoint = checkpoint
        self.misspelling = misspelling
        self.tips: dict[str, tuple[int, str | None]] = {}
        self.gaps: dict[str, set[int]] = {}
        self.flagged: set[str] = set()
        self.rows: dict[UUID, Assessment] = {}
        self.touched: dict[UUID, tuple[str, int, int]] = {}
        self.digest = GENESIS_HASH
        self.digested = 0
        self.checkpoint_seen = False
        self.projected_seen = False
        self.accounts = AccountWalk(self.flag)

    def flag(self, finding: Finding) -> None:
        """Report a finding about one stream's events."""
        self.report.add(finding)
        if finding.stream is not None:
            self.flagged.add(finding.stream)

    def visit(self, raw: LoggedEvent) -> None:
        """Check one stored event and fold it into the rebuilt projection."""
        self.report.events += 1
        record = record_of(raw, self.mapper)
        self._check_spelling(raw, record)
        self._check_content(record)
        self._check_order(record)
        self._digest(record)
        if record.position == self.report.projected_position:
            self.projected_seen = True
        event = self._decode(raw, record)
        if event is None:
            return
        if isinstance(event.effect, TableEffect):  # accounts: their tables follow the log head
            self.accounts.visit(event, record)
        elif record.position <= self.report.projected_position:
            self._project(event, record)

    def _check_spelling(self, raw: LoggedEvent, record: EventRecord) -> None:
        """Stream id and topic exactly as the ledger writes them.

        The application finds events by their exact stored id and topic, while the chain hashes
        what they mean: a respelling would verify yet hide the event.
        """
        where = (record.stream, record.version, record.position)
        wrong = self.misspelling(raw.stream_id) if self.misspelling else None
        if wrong is not None:
            self.flag(Finding(FindingKind.NON_CANONICAL, wrong, *where))
        canonical = TOPICS_BY_TYPE.get(record.type)
        if canonical is not None and raw.topic != canonical:
            self.flag(
                Finding(
                    FindingKind.NON_CANONICAL,
                    f"topic stored as {raw.topic!r}, not as {canonical!r}",
                    *where,
                )
            )

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

    def _decode(self, raw: LoggedEvent, record: EventRecord) -> Any:
        event = decode_event(raw, self.mapper, record)
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


def diff_read_table(cursor: Cursor, walk: LogWalk) -> None:
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
            _diff_row(report, walk, want, live)
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


def _diff_row(report: VerifyReport, walk: LogWalk, want: Assessment, live: tuple[Any, ...]) -> None:
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

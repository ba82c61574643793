"""Bulk rebuild of the read table: raw log rows in, typed msgspec payloads, rows out with COPY.

The live projector folds typed domain events into Assessment objects (domain.fold). A rebuild
folds millions of events, so it skips the per-event objects: each stored payload is decoded by
a msgspec decoder typed for its event class, rows are kept as lists in COLUMNS order and
changed in place, and finished rows are written in bulk. It must produce exactly the rows
domain.fold produces; tests/unit/test_row_fold.py holds the two together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from skill_ledger.database import Cursor
from skill_ledger.domain import SkillRecord, Status, event_payload
from skill_ledger.readmodel import COLUMNS, TABLE, UPSERT

Row = list[Any]
"""A read-table row in COLUMNS order, with the values the database driver takes."""

SQLITE_WRITE_BATCH = 5_000
_NIL = UUID(int=0)
_STATUS = COLUMNS.index("status")
_VALIDATED_BY = COLUMNS.index("validated_by")
_VALIDATED_AT = COLUMNS.index("validated_at")
_ARCHIVED_BY = COLUMNS.index("archived_by")
_ARCHIVED_AT = COLUMNS.index("archived_at")
_ARCHIVED_REASON = COLUMNS.index("archived_reason")
_PREVIOUS_STATUS = COLUMNS.index("previous_status")
_CHANGED_AT = COLUMNS.index("status_changed_at")
_CHANGED_BY = COLUMNS.index("status_changed_by")


class UnfoldableEvent(Exception):
    """A stored event cannot be decoded or refers to an assessment the fold does not hold."""


# Version 1 of each event's payload, only the fields the row needs. Ids and times stay the
# strings the payload holds (format_time's RFC 3339), which both backends store as they are.
# gc=False: they hold only strings and numbers, so the cyclic GC need not track a million.


class AssessedPayload(msgspec.Struct, frozen=True, gc=False):
    """What a row takes from SkillRecord.Assessed."""

    timestamp: str
    assessment_id: str
    license_id: int
    skill_name: str
    points_earned: int
    points_total: int
    notes: str
    assessed_by: int
    requires_validation: bool


class ValidatedPayload(msgspec.Struct, frozen=True, gc=False):
    """What a row takes from SkillRecord.Validated."""

    timestamp: str
    assessment_id: str
    validated_by: int


class ArchivedPayload(msgspec.Struct, frozen=True, gc=False):
    """What a row takes from SkillRecord.Archived."""

    timestamp: str
    assessment_id: str
    archived_by: int
    reason: str


Payload = AssessedPayload | ValidatedPayload | ArchivedPayload
Handler = Callable[[bytes], None]
ASSESSED, VALIDATED, ARCHIVED = Status.ASSESSED.value, Status.VALIDATED.value, Status.ARCHIVED.value
NOT_ASSESSED = Status.NOT_ASSESSED.value


class RowFold:
    """Folds stored events, in log order, into rows: active ones held, archived ones final."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        self.active: dict[str, Row] = {}
        self.finished: list[Row] = []
        self._handlers: dict[str, Handler] = {}

    def apply_all(self, logged: Iterable[tuple[int, str, bytes]]) -> None:
        """Fold (position, topic, state) rows; events of other classes are skipped."""
        handlers = self._handlers
        for position, topic, state in logged:
            handler = handlers.get(topic) or self._handler_for(topic)
            try:
                handler(state)
            except (msgspec.ValidationError, msgspec.DecodeError, UnfoldableEvent) as e:
                raise UnfoldableEvent(f"Event at position {position} ({topic}): {e}") from e

    def take_finished(self) -> list[Row]:
        """The rows that archived since the last call: final, ready to write."""
        finished, self.finished = self.finished, []
        return finished

    def take_active(self) -> list[Row]:
        """The rows still active at the end of the log."""
        active = list(self.active.values())
        self.active.clear()
        return active

    def _handler_for(self, topic: str) -> Handler:
        event_class = resolve_topic(topic)
        folds: dict[type[Any], tuple[type[Payload], Callable[[Any], None]]] = {
            SkillRecord.Assessed: (AssessedPayload, self._assessed),
            SkillRecord.Validated: (ValidatedPayload, self._validated),
            SkillRecord.Archived: (ArchivedPayload, self._archived),
        }
        if event_class not in folds:
            handler: Handler = _skip
        else:
            payload_type, fold = folds[event_class]
            decode = self._decoder(topic, event_class, payload_type)

            def handler(state: bytes) -> None:
                fold(decode(state))

        self._handlers[topic] = handler
        return handler

    def _decoder(
        self, topic: str, event_class: type[Any], payload_type: type[Payload]
    ) -> Callable[[bytes], Payload]:
        plain = self.mapper.cipher is None and self.mapper.compressor is None
        if plain and getattr(event_class, "class_version", 1) == 1:
            return msgspec.json.Decoder(payload_type).decode
        # Encrypted, compressed or older class versions: the mapper decodes and upcasts.
        return lambda state: msgspec.convert(
            event_payload(self.mapper.to_domain_event(StoredEvent(_NIL, 0, topic, state))),
            payload_type,
        )

    def _assessed(self, e: AssessedPayload) -> None:
        self.active[e.assessment_id] = [
            e.assessment_id,
            e.license_id,
            e.skill_name,
            e.points_earned,
            e.points_total,
            round(100.0 * e.points_earned / e.points_total, 2),
            e.notes,
            ASSESSED,
            e.requires_validation,
            e.assessed_by,
            e.timestamp,
            None,
            None,
            None,
            None,
            None,
            NOT_ASSESSED,
            e.timestamp,
            e.assessed_by,
        ]

    def _validated(self, e: ValidatedPayload) -> None:
        row = self._active_row("Validated", e.assessment_id)
        row[_PREVIOUS_STATUS] = row[_STATUS]
        row[_STATUS] = VALIDATED
        row[_VALIDATED_BY] = row[_CHANGED_BY] = e.validated_by
        row[_VALIDATED_AT] = row[_CHANGED_AT] = e.timestamp

    def _archived(self, e: ArchivedPayload) -> None:
        row = self._active_row("Archived", e.assessment_id)
        del self.active[e.assessment_id]
        row[_PREVIOUS_STATUS] = row[_STATUS]
        row[_STATUS] = ARCHIVED
        row[_ARCHIVED_BY] = row[_CHANGED_BY] = e.archived_by
        row[_ARCHIVED_AT] = row[_CHANGED_AT] = e.timestamp
        row[_ARCHIVED_REASON] = e.reason
        self.finished.append(row)

    def _active_row(self, event_name: str, assessment_id: str) -> Row:
        try:
            return self.active[assessment_id]
        except KeyError:
            raise UnfoldableEvent(f"{event_name} for unknown assessment {assessment_id}") from None


def _skip(_: bytes) -> None:
    """Events that do not touch the table (none yet besides the three)."""


RowWrite = Callable[[Sequence[Row]], None]


@contextmanager
def row_writer(cursor: Cursor, *, is_postgres: bool) -> Iterator[RowWrite]:
    """A function that writes rows into the emptied read table, archived rows first.

    On PostgreSQL one COPY stays open for the whole rebuild and a queue thread sends the data,
    so the server inserts and indexes rows while the fold goes on reading and decoding.
    """
    if not is_postgres:

        def insert(rows: Sequence[Row]) -> None:
            for start in range(0, len(rows), SQLITE_WRITE_BATCH):
                cursor.executemany(UPSERT, rows[start : start + SQLITE_WRITE_BATCH])

        yield insert
        return
    assert isinstance(cursor, psycopg.Cursor)
    statement = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
    with cursor.copy(statement, writer=psycopg.copy.QueuedLibpqWriter(cursor)) as copy:

        def send(rows: Sequence[Row]) -> None:
            write_row = copy.write_row
            for row in rows:
                write_row(row)

        yield send

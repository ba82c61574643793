"""Bulk rebuild of the read table: raw log rows in, typed msgspec payloads, rows out in bulk.

The live projector folds typed domain events into Assessment objects (domain.fold). A rebuild
folds millions of events, so it skips the per-event objects: each stored payload is decoded
into a Struct of just the fields the event's `RowEffect` reads, rows are lists in COLUMNS order
changed in place, and finished rows are written in bulk. Both read the same declarations;
tests/unit/test_row_fold.py holds their results together.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any
from uuid import UUID

import msgspec

from skill_ledger.database import Cursor, Database
from skill_ledger.domain import COLUMNS, RowEffect, Status, percentage
from skill_ledger.domain.assessment import KEY, TIMESTAMP
from skill_ledger.eventstore.log import EventLog
from skill_ledger.eventstore.transcoder import EVENTS_BY_TOPIC, TypedMapper
from skill_ledger.readside.table import PROJECTION_VERSION, TABLE, upsert_into
from skill_ledger.readside.tracking import ProjectionError, Tracking

Row = list[Any]
"""A read-table row in COLUMNS order, with the values the database driver takes."""

READ_BATCH = 20_000
ProgressCallback = Callable[[int, int], None]
Handler = Callable[[bytes], None]
_INDEX = {column: index for index, column in enumerate(COLUMNS)}
_STATUS, _PREVIOUS = _INDEX["status"], _INDEX["previous_status"]
_CHANGED_AT, _CHANGED_BY = _INDEX["status_changed_at"], _INDEX["status_changed_by"]
_EARNED, _TOTAL, _PERCENTAGE = _INDEX["points_earned"], _INDEX["points_total"], _INDEX["percentage"]
_NOT_ASSESSED = Status.NOT_ASSESSED.value


class UnfoldableEvent(Exception):
    """A stored event cannot be decoded or refers to an assessment the fold does not hold."""


_PAYLOAD_TYPES: dict[type[Any], type[msgspec.Struct]] = {}


def payload_type(event_class: type[Any]) -> type[msgspec.Struct]:
    """A Struct of the fields the event's RowEffect reads, ids and times kept as stored text.

    gc=False: instances hold only strings and numbers, so the cyclic GC need not track millions.
    """
    effect: RowEffect = event_class.effect
    hints = typing.get_type_hints(event_class)
    outcome = [effect.outcome] if effect.outcome else []
    names = dict.fromkeys([TIMESTAMP, KEY, effect.actor, *outcome, *effect.columns.values()])

    def stored(annotation: Any) -> Any:
        if annotation in (UUID, datetime):
            return str
        if annotation == UUID | None:
            return str | None
        return annotation

    if event_class not in _PAYLOAD_TYPES:
        _PAYLOAD_TYPES[event_class] = msgspec.defstruct(
            f"{event_class.__name__}Payload",
            [(name, stored(hints[name])) for name in names],
            frozen=True,
            gc=False,
        )
    return _PAYLOAD_TYPES[event_class]


@dataclass(frozen=True, slots=True)
class RebuildStats:
    """What a rebuild did."""

    events: int
    rows: int
    seconds: float
    position: int

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


class RowFold:
    """Folds stored events, in log order, into rows: active ones held, finished ones released."""

    def __init__(self, mapper: TypedMapper) -> None:
        self.mapper = mapper
        self.active: dict[str, Row] = {}
        self.finished: list[Row] = []
        self._handlers: dict[str, Handler] = {}

    def apply_all(self, logged: Iterable[tuple[int, str, bytes]]) -> None:
        """Fold (position, topic, state) rows; an event of an unknown type is refused."""
        handlers = self._handlers
        for position, topic, state in logged:
            try:
                (handlers.get(topic) or self._handler_for(topic))(state)
            except (msgspec.ValidationError, msgspec.DecodeError, UnfoldableEvent) as e:
                raise UnfoldableEvent(f"Event at position {position} ({topic}): {e}") from e

    def take_finished(self) -> list[Row]:
        """The rows that left the active set since the last call: final, ready to write."""
        finished = list(self.finished)
        self.finished.clear()  # in place: the handlers hold this list
        return finished

    def take_active(self) -> list[Row]:
        """The rows still active at the end of the log."""
        active = list(self.active.values())
        self.active.clear()
        return active

    def _handler_for(self, topic: str) -> Handler:
        event_class = EVENTS_BY_TOPIC.get(topic)
        if event_class is None:
            raise UnfoldableEvent(f"not an event type of this ledger: {topic}")
        effect = event_class.effect
        if not isinstance(effect, RowEffect):  # an account's or a license's: another table's
            self._handlers[topic] = _ignore
            return _ignore
        decode = self.mapper.payload_decoder(topic, payload_type(event_class))
        fold = self._creator(effect) if effect.creates else self._changer(event_class, effect)

        def handler(state: bytes) -> None:
            fold(decode(state))

        self._handlers[topic] = handler
        return handler

    def _creator(self, effect: RowEffect) -> Callable[[Any], None]:
        plan = [(_INDEX[column], attrgetter(source)) for column, source in effect.columns.items()]
        status, actor, key = effect.status.value, attrgetter(effect.actor), _INDEX["id"]
        active, finished, final, width = self.active, self.finished, effect.final, len(COLUMNS)

        def create(payload: Any) -> None:
            row: Row = [None] * width
            for index, get in plan:
                row[index] = get(payload)
            row[_PERCENTAGE] = percentage(row[_EARNED], row[_TOTAL])
            row[_STATUS], row[_PREVIOUS] = status, _NOT_ASSESSED
            row[_CHANGED_AT], row[_CHANGED_BY] = payload.timestamp, actor(payload)
            if final:
                finished.append(row)
            else:
                active[row[key]] = row

        return create

    def _changer(self, event_class: type[Any], effect: RowEffect) -> Callable[[Any], None]:
        plan = [(_INDEX[column], attrgetter(source)) for column, source in effect.columns.items()]
        status, actor, final = effect.status.value, attrgetter(effect.actor), effect.final
        active, finished, name = self.active, self.finished, event_class.__name__
        outcome = attrgetter(effect.outcome) if effect.outcome else None
        statuses = {key: value.value for key, value in effect.statuses.items()}

        def change(payload: Any) -> None:
            key = payload.assessment_id
            row = active.get(key)
            if row is None:
                raise UnfoldableEvent(f"{name} for unknown assessment {key}")
            for index, get in plan:
                row[index] = get(payload)
            after = status if outcome is None else statuses.get(outcome(payload), status)
            row[_PREVIOUS], row[_STATUS] = row[_STATUS], after
            row[_CHANGED_AT], row[_CHANGED_BY] = payload.timestamp, actor(payload)
            if final:
                del active[key]
                finished.append(row)

        return change


def _ignore(_: bytes) -> None:
    """A known event that changes no assessment row."""


def rebuild(
    db: Database,
    eventlog: EventLog,
    tracking: Tracking,
    on_progress: ProgressCallback | None,
    version: int = PROJECTION_VERSION,
) -> RebuildStats:
    """Rebuild the read table in place from the first event, in one transaction.

    Readers keep seeing the old table until the commit (PostgreSQL MVCC); the live projector
    waits on the tracking row and continues from the rebuilt position. On PostgreSQL
    `bluegreen.rebuild` fills a new table beside the live one instead and swaps it in, so
    nothing waits for the fold; this in-place form serves SQLite (one writer at a time anyway).
    """
    started = time.perf_counter()
    with db.transaction() as cursor:
        tracking.lock(cursor)
        head = eventlog.max_position(cursor)
        cursor.execute(f"DELETE FROM {TABLE}")
        done, written = fill(db, cursor, eventlog, TABLE, head, on_progress)
        tracking.reset(cursor, head)
        tracking.set_version(cursor, version)
    return RebuildStats(
        events=done, rows=written, seconds=time.perf_counter() - started, position=head
    )


def fill(
    db: Database,
    cursor: Cursor,
    eventlog: EventLog,
    table: str,
    head: int,
    on_progress: ProgressCallback | None,
) -> tuple[int, int]:
    """Fold the log up to `head` into the empty `table` in `cursor`'s transaction: (events, rows).

    Finished rows are written as soon as they finish; memory holds only active rows. On
    PostgreSQL the log is read on a second connection while one COPY streams rows in on the
    first: events up to the head are committed and never change, so both see the same log
    (the recorder's table lock means no lower position can still commit).
    """
    total = eventlog.count(cursor)
    fold = RowFold(eventlog.mapper)
    done = written = position = 0
    with (
        db.bulk_reader(cursor) as reader,
        db.bulk_writer(cursor, table, COLUMNS, upsert_into(table)) as write,
    ):
        while position < head:
            logged = eventlog.read_states(reader, position, READ_BATCH, head)
            if not logged:
                break
            try:
                fold.apply_all(logged)
            except UnfoldableEvent as e:
                raise ProjectionError(str(e)) from e
            finished = fold.take_finished()
            write(finished)
            written += len(finished)
            done += len(logged)
            position = logged[-1][0]
            if on_progress is not None:
                on_progress(done, total)
        active = fold.take_active()
        write(active)
        written += len(active)
    return done, written

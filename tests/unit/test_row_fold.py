"""The rebuild's bulk fold gives exactly the rows the domain's fold gives, from stored events."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest

from skill_ledger.domain import (
    RECORD_EVENTS,
    Actor,
    Assessment,
    Role,
    SkillRecord,
    Status,
    fold,
    format_time,
)
from skill_ledger.eventstore.transcoder import MsgspecTranscoder, TypedMapper
from skill_ledger.readside.rebuild import RowFold, UnfoldableEvent, payload_type
from skill_ledger.readside.table import COLUMNS, row_values

INSTRUCTORS = [Actor(user_id, Role.INSTRUCTOR) for user_id in (20, 21, 22)]
ADMINS = [Actor(user_id, Role.ADMIN) for user_id in (1, 2)]
NOTES = ["", "tab\there", "line\nbreak", "back\\slash", "ünïcödé ⚽", "  padded  "]


def mapper() -> TypedMapper:
    return TypedMapper(transcoder=MsgspecTranscoder())


def history(seed: int, commands: int = 400) -> list[Any]:
    """Events of random assess / replace / validate / archive commands over a few pairs."""
    rng = random.Random(seed)
    records = {
        pair: SkillRecord.start(*pair)
        for pair in [(license_id, skill) for license_id in (1, 2) for skill in ("a", "b", "c")]
    }
    events: list[Any] = []
    for _ in range(commands):
        record = rng.choice(list(records.values()))
        active = record.active
        roll = rng.random()
        if active is None or roll < 0.5:
            total = rng.choice((10, 100))
            record.assess(
                rng.choice(INSTRUCTORS + ADMINS),
                rng.randint(0, total),
                total,
                rng.choice(NOTES),
                rng.random() < 0.3,
                UUID(int=rng.getrandbits(128), version=4),
            )
        elif roll < 0.75 and active.status is Status.ASSESSED and active.assessed_by >= 20:
            record.validate(rng.choice(ADMINS), active.id)
        else:
            record.archive(rng.choice(ADMINS), active.id, rng.choice(["wrong license", "typo"]))
        events.extend(record.collect_events())
    return events


def stored_rows(events: list[Any]) -> list[tuple[int, str, bytes]]:
    stored = [mapper().to_stored_event(event) for event in events]
    return [(position, s.topic, s.state) for position, s in enumerate(stored, start=1)]


def as_stored_values(row: Assessment) -> list[Any]:
    """row_values as the bulk fold keeps them: ids and times in their stored text form."""

    def stored(value: Any) -> Any:
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, datetime):
            return format_time(value)
        return value

    return [stored(value) for value in row_values(row)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_fold_matches_the_domain_fold(seed: int) -> None:
    events = history(seed)
    expected = fold({}, [mapper().to_domain_event(mapper().to_stored_event(e)) for e in events])
    bulk = RowFold(mapper())
    bulk.apply_all(stored_rows(events))
    rows = bulk.take_finished() + bulk.take_active()
    assert {row[0]: row for row in rows} == {
        str(key): as_stored_values(row) for key, row in expected.items()
    }
    assert len(rows) == len(expected)
    assert {type(event) for event in events} == {
        SkillRecord.Assessed,
        SkillRecord.Validated,
        SkillRecord.Archived,
    }
    assert "VALIDATED" in {row[COLUMNS.index("previous_status")] for row in rows}


def test_rows_taken_in_batches_are_all_the_rows_the_domain_fold_gives() -> None:
    events = history(5, commands=600)
    expected = fold({}, [mapper().to_domain_event(mapper().to_stored_event(e)) for e in events])
    bulk = RowFold(mapper())
    stored = stored_rows(events)
    rows = []
    for start in range(0, len(stored), 50):
        bulk.apply_all(stored[start : start + 50])
        rows.extend(bulk.take_finished())
    rows.extend(bulk.take_active())
    assert {row[0]: row for row in rows} == {
        str(key): as_stored_values(row) for key, row in expected.items()
    }
    assert len(rows) == len(expected)


def test_finished_rows_are_exactly_the_archived_ones() -> None:
    bulk = RowFold(mapper())
    bulk.apply_all(stored_rows(history(4)))
    finished = bulk.take_finished()
    active = bulk.take_active()
    status = COLUMNS.index("status")
    assert finished
    assert all(row[status] == "ARCHIVED" for row in finished)
    assert all(row[status] in ("ASSESSED", "VALIDATED") for row in active)
    assert bulk.take_finished() == []
    assert bulk.take_active() == []


def test_an_event_for_an_unknown_assessment_names_its_position() -> None:
    record = SkillRecord.start(1, "a")
    record.assess(INSTRUCTORS[0], 5, 10, "", True, UUID(int=1, version=4))
    record.validate(ADMINS[0], UUID(int=1, version=4))
    validated_only = stored_rows(record.collect_events())[1:]
    with pytest.raises(UnfoldableEvent, match=r"position 2 .*unknown assessment"):
        RowFold(mapper()).apply_all(validated_only)


def test_a_corrupt_payload_is_refused_with_its_position() -> None:
    record = SkillRecord.start(1, "a")
    record.assess(INSTRUCTORS[0], 5, 10, "", True, UUID(int=1, version=4))
    ((position, topic, _),) = stored_rows(record.collect_events())
    with pytest.raises(UnfoldableEvent, match="position 1"):
        RowFold(mapper()).apply_all([(position, topic, b'{"timestamp": 3}')])


@pytest.mark.parametrize("event_class", RECORD_EVENTS)
def test_payload_types_cover_version_one_of_each_event(event_class: type[Any]) -> None:
    # A new class_version needs its upcast here too: the fast decoders read version 1 only.
    payload: type[msgspec.Struct] = payload_type(event_class)
    assert getattr(event_class, "class_version", 1) == 1
    event_fields = {field.name for field in dataclasses.fields(event_class)}
    assert set(payload.__struct_fields__) <= event_fields

"""The repository hands out copies of cached records: deciding on one leaves the cache alone."""

from __future__ import annotations

import copy
from uuid import uuid4

from skill_ledger.domain import Actor, Role, SkillRecord

INSTRUCTOR = Actor(2, Role.INSTRUCTOR)
ADMIN = Actor(1, Role.ADMIN)


def stored_record() -> SkillRecord:
    """A record with history and nothing pending, as the cache holds it."""
    record = SkillRecord.start(7, "passing")
    for points in (3, 4, 5):
        record.assess(INSTRUCTOR, points, 10, "", False, uuid4())
    record.collect_events()
    return record


def test_a_copy_has_the_same_state() -> None:
    record = stored_record()

    clone = copy.deepcopy(record)

    assert clone == record
    assert clone is not record
    assert clone.archived == record.archived
    assert clone.active == record.active
    assert clone.last_hash == record.last_hash


def test_deciding_on_a_copy_leaves_the_original_untouched() -> None:
    record = stored_record()
    before = copy.deepcopy(record)
    clone = copy.deepcopy(record)

    assert clone.active is not None
    clone.archive(ADMIN, clone.active.id, "wrong license")
    clone.assess(INSTRUCTOR, 9, 10, "", False, uuid4())

    assert len(clone.pending_events) == 2
    assert record.pending_events == []
    assert record == before
    assert len(record.archived) == 2
    assert len(clone.archived) == 3
    assert clone.version == record.version + 2

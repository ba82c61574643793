"""The skill record's rules: given events, a command, expected events or a named error."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import project_aggregate

from skill_ledger.domain import (
    GENESIS_HASH,
    REPLACED_BY_NEW,
    Actor,
    AssessmentNotFound,
    InvalidAssessment,
    InvalidTransition,
    NotPermitted,
    Outcome,
    Role,
    SelfValidationForbidden,
    SkillRecord,
    Status,
    ValidationPolicy,
    chain_hash,
    event_payload,
    fold,
    record_id,
)

ADMIN = Actor(1, Role.ADMIN)
OTHER_ADMIN = Actor(5, Role.ADMIN)
INSTRUCTOR = Actor(2, Role.INSTRUCTOR)
OTHER_INSTRUCTOR = Actor(3, Role.INSTRUCTOR)
STUDENT = Actor(4, Role.STUDENT)
AUDITOR = Actor(6, Role.AUDITOR)


def given(*commands: Any) -> tuple[SkillRecord, list[Any]]:
    """A record rebuilt from the events of earlier commands (as the repository would)."""
    record = SkillRecord.start(7, "ball_control")
    for command in commands:
        command(record)
    history = list(record.collect_events())
    rebuilt = project_aggregate(None, history) if history else SkillRecord.start(7, "ball_control")
    return rebuilt, history


def assessed(points: int, total: int = 10, by: Actor = INSTRUCTOR, notes: str = "") -> Any:
    def command(record: SkillRecord) -> None:
        record.assess(by, points, total, notes, False, uuid4())

    return command


def new_events(record: SkillRecord) -> list[Any]:
    return list(record.collect_events())


def test_first_assessment_records_one_assessed_event() -> None:
    record, _ = given()
    outcome = record.assess(INSTRUCTOR, 8, 10, "good", True, uuid4())
    [event] = new_events(record)
    assert outcome is Outcome.CREATED
    assert isinstance(event, SkillRecord.Assessed)
    assert (event.points_earned, event.points_total, event.notes) == (8, 10, "good")
    assert event.assessed_by == INSTRUCTOR.user_id
    assert event.actor_role == "instructor"
    assert event.requires_validation is True
    assert event.replaces is None
    assert event.originator_version == 1
    assert event.originator_id == record_id(7, "ball_control")


def test_identical_points_record_nothing_even_with_other_notes() -> None:
    record, _ = given(assessed(8, notes="first"))
    outcome = record.assess(INSTRUCTOR, 8, 10, "different notes", False, uuid4())
    assert outcome is Outcome.IDENTICAL
    assert new_events(record) == []


def test_different_points_archive_the_active_one_then_assess_in_one_save() -> None:
    record, history = given(assessed(8))
    first_id = history[0].assessment_id
    outcome = record.assess(OTHER_INSTRUCTOR, 9, 10, "", False, uuid4())
    archived, assessed_event = new_events(record)
    assert outcome is Outcome.REPLACED
    assert isinstance(archived, SkillRecord.Archived)
    assert archived.assessment_id == first_id
    assert archived.reason == REPLACED_BY_NEW
    assert archived.archived_by == OTHER_INSTRUCTOR.user_id
    assert isinstance(assessed_event, SkillRecord.Assessed)
    assert assessed_event.replaces == first_id
    assert (archived.originator_version, assessed_event.originator_version) == (2, 3)


def test_same_earned_points_of_another_total_is_a_change() -> None:
    record, _ = given(assessed(8, total=10))
    assert record.assess(INSTRUCTOR, 8, 20, "", False, uuid4()) is Outcome.REPLACED


def test_admin_validates_an_instructors_assessment() -> None:
    record, history = given(assessed(8))
    assessment_id = history[0].assessment_id
    assert record.validate(ADMIN, assessment_id) is Outcome.VALIDATED
    [event] = new_events(record)
    assert isinstance(event, SkillRecord.Validated)
    assert event.validated_by == ADMIN.user_id
    assert record.active is not None
    assert record.active.status is Status.VALIDATED


def test_validating_a_validated_assessment_again_records_nothing() -> None:
    record, history = given(assessed(8))
    assessment_id = history[0].assessment_id
    record.validate(ADMIN, assessment_id)
    record.collect_events()
    assert record.validate(OTHER_ADMIN, assessment_id) is Outcome.UNCHANGED
    assert new_events(record) == []


def test_validating_an_archived_assessment_is_an_invalid_transition() -> None:
    record, history = given(assessed(8), assessed(9))
    first_id = history[0].assessment_id
    with pytest.raises(InvalidTransition) as caught:
        record.validate(ADMIN, first_id)
    assert caught.value.status is Status.ARCHIVED
    assert new_events(record) == []


def test_an_assessor_cannot_validate_their_own_assessment() -> None:
    record, history = given(assessed(8, by=ADMIN))
    with pytest.raises(SelfValidationForbidden):
        record.validate(ADMIN, history[0].assessment_id)


@pytest.mark.parametrize("actor", [INSTRUCTOR, OTHER_INSTRUCTOR, STUDENT, AUDITOR])
def test_only_admins_validate(actor: Actor) -> None:
    record, history = given(assessed(8, by=OTHER_ADMIN))
    with pytest.raises(NotPermitted):
        record.validate(actor, history[0].assessment_id)


def test_validating_an_unknown_assessment_is_not_found() -> None:
    record, _ = given(assessed(8))
    with pytest.raises(AssessmentNotFound):
        record.validate(ADMIN, uuid4())


def test_archiving_records_the_reason_and_leaves_no_active_assessment() -> None:
    record, history = given(assessed(8))
    assessment_id = history[0].assessment_id
    assert record.archive(INSTRUCTOR, assessment_id, "  Duplicate entry  ") is Outcome.ARCHIVED
    [event] = new_events(record)
    assert isinstance(event, SkillRecord.Archived)
    assert event.reason == "Duplicate entry"
    assert record.active is None
    assert record.last_archived is not None
    assert record.last_archived.status is Status.ARCHIVED
    assert record.last_archived.previous_status is Status.ASSESSED


def test_archiving_an_archived_assessment_again_records_nothing() -> None:
    record, history = given(assessed(8))
    assessment_id = history[0].assessment_id
    record.archive(ADMIN, assessment_id, "wrong student")
    record.collect_events()
    assert record.archive(ADMIN, assessment_id, "again") is Outcome.UNCHANGED
    assert new_events(record) == []


def test_instructors_archive_only_their_own_assessments() -> None:
    record, history = given(assessed(8, by=INSTRUCTOR))
    with pytest.raises(NotPermitted):
        record.archive(OTHER_INSTRUCTOR, history[0].assessment_id, "not mine")
    assert record.archive(ADMIN, history[0].assessment_id, "admin may") is Outcome.ARCHIVED


@pytest.mark.parametrize("actor", [STUDENT, AUDITOR])
def test_students_and_auditors_cannot_assess_or_archive(actor: Actor) -> None:
    record, history = given(assessed(8))
    with pytest.raises(NotPermitted):
        record.assess(actor, 5, 10, "", False, uuid4())
    with pytest.raises(NotPermitted):
        record.archive(actor, history[0].assessment_id, "no")


def test_archiving_needs_a_reason() -> None:
    record, history = given(assessed(8))
    with pytest.raises(InvalidAssessment) as caught:
        record.archive(ADMIN, history[0].assessment_id, "   ")
    assert caught.value.field == "reason"


@pytest.mark.parametrize(
    ("earned", "total", "field"),
    [
        (11, 10, "points_earned"),
        (-1, 10, "points_earned"),
        (0, 0, "points_total"),
        (1, 1001, "points_total"),
    ],
)
def test_points_out_of_range_are_refused(earned: int, total: int, field: str) -> None:
    record, _ = given()
    with pytest.raises(InvalidAssessment) as caught:
        record.assess(INSTRUCTOR, earned, total, "", False, uuid4())
    assert caught.value.field == field
    assert new_events(record) == []


def test_notes_longer_than_2000_characters_are_refused() -> None:
    record, _ = given()
    with pytest.raises(InvalidAssessment):
        record.assess(INSTRUCTOR, 1, 10, "x" * 2001, False, uuid4())
    assert record.assess(INSTRUCTOR, 1, 10, "x" * 2000, False, uuid4()) is Outcome.CREATED


def test_a_new_assessment_after_a_manual_archive_replaces_nothing() -> None:
    record, history = given(assessed(8))
    record.archive(ADMIN, history[0].assessment_id, "reset")
    record.collect_events()
    assert record.assess(INSTRUCTOR, 8, 10, "", False, uuid4()) is Outcome.CREATED
    [event] = new_events(record)
    assert event.replaces is None


def test_every_event_chains_to_the_hash_of_the_one_before() -> None:
    _, history = given(assessed(8), assessed(9), assessed(4))
    previous = GENESIS_HASH
    for event in history:
        payload = event_payload(event)
        assert event.prev_hash == previous
        recomputed = chain_hash(
            str(event.originator_id),
            event.originator_version,
            type(event).__name__,
            payload,
            event.prev_hash,
        )
        assert recomputed == event.hash
        previous = event.hash


def test_editing_a_payload_breaks_its_hash() -> None:
    _, history = given(assessed(8))
    event = history[0]
    payload = event_payload(event)
    payload["points_earned"] = 10
    forged = chain_hash(str(event.originator_id), 1, "Assessed", payload, event.prev_hash)
    assert forged != event.hash


def test_replaying_the_events_reproduces_the_record() -> None:
    record, history = given(assessed(8), assessed(9))
    rebuilt = project_aggregate(None, history)
    assert rebuilt.active == record.active
    assert rebuilt.archived == record.archived
    assert rebuilt.last_hash == history[-1].hash


def test_snapshot_restores_the_same_record() -> None:
    record, _history = given(assessed(8), assessed(9), assessed(3))
    snapshot = SkillRecord.Snapshot.take(record)
    restored = snapshot.mutate(None)
    assert restored.version == record.version
    assert restored.active == record.active
    assert restored.archived == record.archived
    assert restored.last_hash == record.last_hash


def test_fold_of_the_events_gives_the_rows_of_the_read_table() -> None:
    record, history = given(assessed(8), assessed(9))
    second_id = history[-1].assessment_id
    record.validate(ADMIN, second_id)
    history += new_events(record)
    rows = fold({}, history)
    statuses = sorted(row.status.value for row in rows.values())
    assert statuses == ["ARCHIVED", "VALIDATED"]
    assert rows[second_id].validated_by == ADMIN.user_id
    assert rows[second_id].previous_status is Status.ASSESSED
    assert rows[second_id].percentage == 90.0


def test_record_ids_are_deterministic_per_pair() -> None:
    assert record_id(1, "passing") == record_id(1, "passing")
    assert record_id(1, "passing") != record_id(1, "dribbling")
    assert record_id(1, "passing") != record_id(2, "passing")
    assert isinstance(record_id(1, "passing"), UUID)


# -- the validation policy --------------------------------------------------------------------


def test_new_instructors_need_validation() -> None:
    policy = ValidationPolicy(new_instructor_assessments=10)
    assert policy.requires_validation(INSTRUCTOR, 9, 80.0, None)
    assert not policy.requires_validation(INSTRUCTOR, 10, 80.0, None)


def test_large_score_jumps_need_validation() -> None:
    policy = ValidationPolicy(new_instructor_assessments=0, score_jump_percent=25)
    assert policy.requires_validation(INSTRUCTOR, 50, 90.0, 60.0)
    assert not policy.requires_validation(INSTRUCTOR, 50, 80.0, 60.0)


def test_admins_never_need_validation() -> None:
    policy = ValidationPolicy()
    assert not policy.requires_validation(ADMIN, 0, 100.0, 0.0)


def test_policy_is_configurable() -> None:
    strict = dataclasses.replace(ValidationPolicy(), new_instructor_assessments=1000)
    assert strict.requires_validation(INSTRUCTOR, 999, 50.0, None)


def archived_by_its_assessor(record: SkillRecord) -> None:
    assert record.active is not None
    record.archive(Actor(record.active.assessed_by, Role.INSTRUCTOR), record.active.id, "redo")


def test_the_last_assessment_is_the_active_one_or_else_the_last_archived() -> None:
    record, _ = given(assessed(2), assessed(4))
    assert record.last_assessment is record.active
    record, _ = given(assessed(2), assessed(4), archived_by_its_assessor)
    assert record.active is None
    assert record.last_assessment is not None
    assert record.last_assessment.percentage == 40.0
    assert SkillRecord.start(7, "ball_control").last_assessment is None


def test_archive_then_assess_does_not_escape_the_score_jump_rule() -> None:
    policy = ValidationPolicy(new_instructor_assessments=0, score_jump_percent=25)
    record, _ = given(assessed(2), archived_by_its_assessor)
    last = record.last_assessment
    assert last is not None
    assert record.active is None
    assert policy.requires_validation(INSTRUCTOR, 50, 100.0, last.percentage, record.active)


def test_replacing_a_validated_assessment_needs_validation() -> None:
    policy = ValidationPolicy(new_instructor_assessments=0, score_jump_percent=25)
    record, _ = given(assessed(8), lambda r: r.validate(ADMIN, r.active.id))
    active = record.active
    assert active is not None
    assert active.status is Status.VALIDATED
    assert policy.requires_validation(INSTRUCTOR, 50, 90.0, active.percentage, active)
    lenient = dataclasses.replace(policy, replacing_validated=False)
    assert not lenient.requires_validation(INSTRUCTOR, 50, 90.0, active.percentage, active)


def test_replacing_another_assessors_assessment_needs_validation() -> None:
    policy = ValidationPolicy(new_instructor_assessments=0, score_jump_percent=25)
    record, _ = given(assessed(8, by=OTHER_INSTRUCTOR))
    theirs = record.active
    assert theirs is not None
    assert policy.requires_validation(INSTRUCTOR, 50, 90.0, theirs.percentage, theirs)
    assert not policy.requires_validation(OTHER_INSTRUCTOR, 50, 90.0, theirs.percentage, theirs)
    lenient = dataclasses.replace(policy, replacing_others=False)
    assert not lenient.requires_validation(INSTRUCTOR, 50, 90.0, theirs.percentage, theirs)


def test_admins_stay_exempt_from_every_rule() -> None:
    policy = ValidationPolicy()
    record, _ = given(assessed(1, by=OTHER_INSTRUCTOR), lambda r: r.validate(ADMIN, r.active.id))
    assert not policy.requires_validation(OTHER_ADMIN, 0, 100.0, 10.0, record.active)


def test_nul_characters_are_refused_in_notes_and_reasons() -> None:
    record, history = given(assessed(8))
    with pytest.raises(InvalidAssessment) as caught:
        record.assess(INSTRUCTOR, 1, 10, "a\x00b", False, uuid4())
    assert caught.value.field == "notes"
    with pytest.raises(InvalidAssessment) as caught:
        record.archive(ADMIN, history[0].assessment_id, "bad\x00reason")
    assert caught.value.field == "reason"
    assert new_events(record) == []

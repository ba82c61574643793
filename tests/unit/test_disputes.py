"""Disputes: given events, a dispute or a resolution, expected events or a named error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import project_aggregate

from skill_ledger.domain import (
    REPLACED_BY_NEW,
    AssessmentNotFound,
    DisputeOutcome,
    DisputeRefused,
    InvalidAssessment,
    InvalidTransition,
    Modification,
    NotPermitted,
    Outcome,
    SelfValidationForbidden,
    SkillRecord,
    Status,
    fold,
    transitions,
)
from skill_ledger.domain.vocabulary import Actor, Role
from tests.unit.test_skill_record import (
    ADMIN,
    AUDITOR,
    INSTRUCTOR,
    OTHER_ADMIN,
    OTHER_INSTRUCTOR,
    STUDENT,
)

THIRD_ADMIN = Actor(8, Role.ADMIN)
OTHER_STUDENT = Actor(9, Role.STUDENT)
HOLDER = STUDENT.user_id
WINDOW = timedelta(days=30)


def validated_record() -> tuple[SkillRecord, UUID, list[Any]]:
    """A record whose active assessment (8/10 by the instructor) the admin validated."""
    record = SkillRecord.start(7, "passing")
    assessment_id = uuid4()
    record.assess(INSTRUCTOR, 8, 10, "", True, assessment_id)
    record.validate(ADMIN, assessment_id)
    history: list[Any] = list(record.collect_events())
    return replay(history), assessment_id, history


def replay(history: list[Any]) -> SkillRecord:
    record: SkillRecord | None = project_aggregate(None, history)
    assert record is not None
    return record


def now() -> datetime:
    return datetime.now(UTC)


def dispute(record: SkillRecord, assessment_id: UUID, **overrides: Any) -> Outcome:
    arguments: dict[str, Any] = {
        "actor": STUDENT,
        "reason": "the drill was not the one agreed",
        "holder": HOLDER,
        "window": WINDOW,
        "now": now(),
    }
    arguments.update(overrides)
    return record.dispute(
        arguments.pop("actor"),
        assessment_id,
        arguments.pop("reason"),
        arguments.pop("holder"),
        **arguments,
    )


def disputed_record() -> tuple[SkillRecord, UUID, list[Any]]:
    record, assessment_id, history = validated_record()
    dispute(record, assessment_id)
    history += record.collect_events()
    return replay(history), assessment_id, history


def test_the_holder_disputes_a_validated_assessment() -> None:
    record, assessment_id, _ = validated_record()
    outcome = dispute(record, assessment_id, reason="  wrong drill  ")
    [event] = record.collect_events()
    assert outcome is Outcome.DISPUTED
    assert isinstance(event, SkillRecord.Disputed)
    assert (event.assessment_id, event.disputed_by, event.reason) == (
        assessment_id,
        STUDENT.user_id,
        "wrong drill",
    )
    assert record.active is not None
    assert record.active.status is Status.DISPUTED
    assert record.active.is_active
    assert record.active.dispute_open


@pytest.mark.parametrize("actor", [OTHER_STUDENT, ADMIN, INSTRUCTOR, AUDITOR])
def test_only_the_licenses_holder_may_dispute(actor: Actor) -> None:
    record, assessment_id, _ = validated_record()
    with pytest.raises(NotPermitted):
        dispute(record, assessment_id, actor=actor)
    assert list(record.collect_events()) == []


def test_an_assessment_not_yet_validated_cannot_be_disputed() -> None:
    record = SkillRecord.start(7, "passing")
    assessment_id = uuid4()
    record.assess(INSTRUCTOR, 8, 10, "", True, assessment_id)
    record = replay(list(record.collect_events()))
    with pytest.raises(InvalidTransition, match="it is ASSESSED"):
        dispute(record, assessment_id)


def test_an_archived_assessment_cannot_be_disputed() -> None:
    record, assessment_id, history = validated_record()
    record.assess(INSTRUCTOR, 5, 10, "", True, uuid4())
    record = replay(history + list(record.collect_events()))
    with pytest.raises(InvalidTransition, match="ARCHIVED"):
        dispute(record, assessment_id)


def test_disputing_an_unknown_assessment_is_not_found() -> None:
    record, _, _ = validated_record()
    with pytest.raises(AssessmentNotFound):
        dispute(record, uuid4())


def test_at_most_one_open_dispute_per_assessment() -> None:
    record, assessment_id, _ = disputed_record()
    with pytest.raises(DisputeRefused, match="already disputed"):
        dispute(record, assessment_id)


def test_the_window_closes_its_days_after_the_validation() -> None:
    record, assessment_id, _ = validated_record()
    assert record.active is not None
    assert record.active.validated_at is not None
    closes = record.active.validated_at + WINDOW
    with pytest.raises(DisputeRefused, match="dispute window of 30 days closed"):
        dispute(record, assessment_id, now=closes + timedelta(seconds=1))
    assert dispute(record, assessment_id, now=closes) is Outcome.DISPUTED


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 1001, "at most 1000"),
        ("a\x00b", "NUL"),
    ],
)
def test_a_dispute_needs_a_reason_of_1_to_1000_characters_without_nul(
    reason: str, message: str
) -> None:
    record, assessment_id, _ = validated_record()
    with pytest.raises(InvalidAssessment, match=message) as raised:
        dispute(record, assessment_id, reason=reason)
    assert raised.value.field == "reason"
    assert dispute(record, assessment_id, reason="x" * 1000) is Outcome.DISPUTED


def test_a_disputed_assessment_can_be_neither_validated_nor_archived() -> None:
    record, assessment_id, _ = disputed_record()
    with pytest.raises(InvalidTransition, match="validate"):
        record.validate(OTHER_ADMIN, assessment_id)
    with pytest.raises(InvalidTransition, match="archive"):
        record.archive(ADMIN, assessment_id, "mistake")
    assert list(record.collect_events()) == []


def test_approve_returns_the_assessment_to_assessed_needing_validation() -> None:
    record, assessment_id, _ = disputed_record()
    outcome = record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.APPROVE, "fair point")
    [event] = record.collect_events()
    assert outcome is Outcome.RESOLVED
    assert isinstance(event, SkillRecord.DisputeResolved)
    assert (event.outcome, event.note, event.replacement, event.resolved_by) == (
        "approve",
        "fair point",
        None,
        OTHER_ADMIN.user_id,
    )
    row = record.active
    assert row is not None
    assert (row.status, row.previous_status, row.requires_validation) == (
        Status.ASSESSED,
        Status.DISPUTED,
        True,
    )
    assert (row.dispute_outcome, row.dispute_resolved_by) == ("approve", OTHER_ADMIN.user_id)


def test_reject_keeps_it_validated_and_needs_a_note() -> None:
    record, assessment_id, _ = disputed_record()
    with pytest.raises(InvalidAssessment) as raised:
        record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.REJECT, " ")
    assert raised.value.field == "note"
    record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.REJECT, "the grade stands")
    assert record.active is not None
    assert (record.active.status, record.active.dispute_outcome) == (Status.VALIDATED, "reject")
    assert record.active.requires_validation is True  # as it was


def test_a_rejected_dispute_cannot_be_reopened() -> None:
    record, assessment_id, _ = disputed_record()
    record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.REJECT, "stands")
    with pytest.raises(DisputeRefused, match="cannot be disputed again"):
        dispute(record, assessment_id)


def test_a_new_validation_of_a_new_assessment_gives_a_new_right_to_dispute() -> None:
    record, assessment_id, history = disputed_record()
    record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.REJECT, "stands")
    new_id = uuid4()
    record.assess(OTHER_INSTRUCTOR, 6, 10, "", True, new_id)
    record.validate(ADMIN, new_id)
    record = replay(history + list(record.collect_events()))
    assert dispute(record, new_id) is Outcome.DISPUTED


def test_modify_archives_the_disputed_one_and_the_admins_points_become_active() -> None:
    record, assessment_id, _ = disputed_record()
    new_id = uuid4()
    change = Modification(6, 10, False, new_id)
    outcome = record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.MODIFY, "regraded", change)
    resolved, archived, assessed = list[Any](record.collect_events())
    assert outcome is Outcome.RESOLVED
    assert (resolved.outcome, resolved.replacement) == ("modify", new_id)
    assert isinstance(archived, SkillRecord.Archived)
    assert (archived.assessment_id, archived.reason) == (assessment_id, "Replaced after dispute")
    assert isinstance(assessed, SkillRecord.Assessed)
    assert (assessed.assessment_id, assessed.replaces, assessed.assessed_by) == (
        new_id,
        assessment_id,
        OTHER_ADMIN.user_id,
    )
    assert record.active is not None
    assert record.active.id == new_id
    assert record.last_archived is not None
    assert (record.last_archived.status, record.last_archived.previous_status) == (
        Status.ARCHIVED,
        Status.DISPUTED,
    )
    assert record.last_archived.dispute_outcome == "modify"


def test_modify_with_the_disputed_points_is_a_conflict() -> None:
    record, assessment_id, _ = disputed_record()
    with pytest.raises(DisputeRefused, match="resolve with reject"):
        record.resolve(
            OTHER_ADMIN,
            assessment_id,
            DisputeOutcome.MODIFY,
            "",
            Modification(8, 10, False, uuid4()),
        )


def test_modify_needs_points_and_the_others_refuse_them() -> None:
    record, assessment_id, _ = disputed_record()
    with pytest.raises(InvalidAssessment) as raised:
        record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.MODIFY, "")
    assert raised.value.field == "points_earned"
    with pytest.raises(InvalidAssessment):
        record.resolve(
            OTHER_ADMIN,
            assessment_id,
            DisputeOutcome.APPROVE,
            "",
            Modification(6, 10, False, uuid4()),
        )
    with pytest.raises(InvalidAssessment, match="points_total"):
        record.resolve(
            OTHER_ADMIN,
            assessment_id,
            DisputeOutcome.MODIFY,
            "",
            Modification(6, 0, False, uuid4()),
        )


@pytest.mark.parametrize("actor", [ADMIN, INSTRUCTOR, STUDENT, AUDITOR])
def test_four_eyes_only_an_admin_who_neither_assessed_nor_validated_resolves(actor: Actor) -> None:
    record, assessment_id, _ = disputed_record()
    expected = SelfValidationForbidden if actor is ADMIN else NotPermitted
    with pytest.raises(expected):
        record.resolve(actor, assessment_id, DisputeOutcome.APPROVE, "")
    assert list(record.collect_events()) == []


def test_the_assessing_admin_cannot_resolve_either() -> None:
    record = SkillRecord.start(7, "passing")
    assessment_id = uuid4()
    record.assess(OTHER_ADMIN, 8, 10, "", False, assessment_id)
    record.validate(ADMIN, assessment_id)
    record.dispute(STUDENT, assessment_id, "why", HOLDER, window=WINDOW, now=now())
    with pytest.raises(SelfValidationForbidden):
        record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.REJECT, "no")
    assert record.resolve(THIRD_ADMIN, assessment_id, DisputeOutcome.REJECT, "no")


@pytest.mark.parametrize("outcome", ["approve", "reject", "modify"])
def test_repeating_a_resolution_records_nothing(outcome: str) -> None:
    record, assessment_id, _ = disputed_record()
    kind = DisputeOutcome(outcome)
    change = Modification(6, 10, False, uuid4()) if kind is DisputeOutcome.MODIFY else None
    record.resolve(OTHER_ADMIN, assessment_id, kind, "note", change)
    record.collect_events()
    again = Modification(6, 10, False, uuid4()) if change else None
    assert record.resolve(OTHER_ADMIN, assessment_id, kind, "note", again) is Outcome.UNCHANGED
    assert list(record.collect_events()) == []


def test_a_second_different_resolution_is_a_conflict() -> None:
    record, assessment_id, _ = disputed_record()
    record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.APPROVE, "")
    with pytest.raises(DisputeRefused, match="already resolved: approve"):
        record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.REJECT, "no")


def test_resolving_an_assessment_never_disputed_is_a_conflict() -> None:
    record, assessment_id, _ = validated_record()
    with pytest.raises(DisputeRefused, match="not disputed"):
        record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.APPROVE, "")


def test_superseded_is_no_admin_outcome() -> None:
    record, assessment_id, _ = disputed_record()
    with pytest.raises(InvalidAssessment) as raised:
        record.resolve(OTHER_ADMIN, assessment_id, DisputeOutcome.SUPERSEDED, "")
    assert raised.value.field == "outcome"


def test_a_new_assessment_supersedes_the_open_dispute_recording_it() -> None:
    record, assessment_id, _ = disputed_record()
    new_id = uuid4()
    outcome = record.assess(OTHER_INSTRUCTOR, 5, 10, "", True, new_id)
    resolved, archived, assessed = list[Any](record.collect_events())
    assert outcome is Outcome.REPLACED
    assert isinstance(resolved, SkillRecord.DisputeResolved)
    assert (resolved.outcome, resolved.replacement, resolved.resolved_by) == (
        "superseded",
        new_id,
        OTHER_INSTRUCTOR.user_id,
    )
    assert (archived.reason, assessed.replaces) == (REPLACED_BY_NEW, assessment_id)
    assert record.last_archived is not None
    assert record.last_archived.dispute_outcome == "superseded"


def test_identical_points_while_disputed_record_nothing_and_keep_the_dispute() -> None:
    record, _, _ = disputed_record()
    assert record.assess(OTHER_INSTRUCTOR, 8, 10, "", True, uuid4()) is Outcome.IDENTICAL
    assert list(record.collect_events()) == []
    assert record.active is not None
    assert record.active.dispute_open


def test_the_fold_of_dispute_events_gives_the_records_rows() -> None:
    record, assessment_id, history = disputed_record()
    record.resolve(
        OTHER_ADMIN, assessment_id, DisputeOutcome.MODIFY, "", Modification(6, 10, False, uuid4())
    )
    history += record.collect_events()
    rows = fold({}, history)
    assert record.active is not None
    assert record.last_archived is not None
    assert rows[record.active.id] == record.active
    assert rows[assessment_id] == record.last_archived
    assert replay(history).active == record.active


def test_dispute_transitions_read_as_the_seeds_log_lines() -> None:
    record, assessment_id, history = validated_record()
    dispute(record, assessment_id)
    events = list(record.collect_events())
    [change] = transitions(fold({}, history), events)
    assert (change.before, change.after, change.actor) == (
        Status.VALIDATED,
        Status.DISPUTED,
        STUDENT.user_id,
    )

"""Commands through the application on real SQLite and PostgreSQL, projected to the read table."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from skill_ledger.domain import (
    AssessmentNotFound,
    InvalidTransition,
    LicenseNotFound,
    Outcome,
    Status,
    UnknownSkill,
    ValidationPolicy,
)
from skill_ledger.ports import NullObserver
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS, Cast, seed_cast


def project(services: Services) -> None:
    services.projector.catch_up()


def test_assess_then_identical_then_replace_projects_two_rows(
    services: Services, cast: Cast
) -> None:
    first = services.ledger.assess(cast.instructor, cast.license_id, "ball_control", 8, 10, "a")
    again = services.ledger.assess(cast.instructor, cast.license_id, "ball_control", 8, 10, "b")
    second = services.ledger.assess(cast.instructor, cast.license_id, "ball_control", 9, 10, "c")
    project(services)
    assert (first.outcome, again.outcome, second.outcome) == (
        Outcome.CREATED,
        Outcome.IDENTICAL,
        Outcome.REPLACED,
    )
    assert again.position is None
    assert again.assessment_id == first.assessment_id
    history = services.readmodel.history(cast.license_id, "ball_control")
    assert [row.status for row in history] == [Status.ASSESSED, Status.ARCHIVED]
    assert history[0].id == second.assessment_id
    assert history[1].archived_reason == "Replaced by new"
    assert history[0].notes == "c"
    assert history[0].percentage == 90.0


def test_validate_and_archive_are_projected_with_actor_and_time(
    services: Services, cast: Cast
) -> None:
    created = services.ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10)
    project(services)
    validated = services.ledger.validate(cast.admin, created.assessment_id)
    project(services)
    archived = services.ledger.archive(cast.admin, created.assessment_id, "wrong license")
    project(services)
    row = services.readmodel.get(created.assessment_id)
    assert validated.outcome is Outcome.VALIDATED
    assert archived.outcome is Outcome.ARCHIVED
    assert row is not None
    assert row.status is Status.ARCHIVED
    assert row.validated_by == cast.admin.user_id
    assert row.archived_by == cast.admin.user_id
    assert row.archived_reason == "wrong license"
    assert row.previous_status is Status.VALIDATED
    assert row.status_changed_by == cast.admin.user_id
    assert row.validated_at is not None
    assert row.archived_at is not None
    assert row.validated_at <= row.archived_at


def test_validating_an_archived_assessment_is_refused(services: Services, cast: Cast) -> None:
    first = services.ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 6, 10)
    project(services)
    with pytest.raises(InvalidTransition):
        services.ledger.validate(cast.admin, first.assessment_id)


def test_unknown_license_skill_and_assessment_raise_named_errors(
    services: Services, cast: Cast
) -> None:
    with pytest.raises(LicenseNotFound):
        services.ledger.assess(cast.instructor, 999_999, "passing", 5, 10)
    with pytest.raises(UnknownSkill):
        services.ledger.assess(cast.instructor, cast.license_id, "juggling_fire", 5, 10)
    with pytest.raises(AssessmentNotFound):
        services.ledger.validate(cast.admin, uuid4())


def test_snapshots_keep_long_streams_correct(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, snapshot_interval=4)
    cast = seed_cast(services)
    for points in range(1, 12):
        services.ledger.assess(cast.instructor, cast.license_id, "dribbling", points, 20)
    record = services.ledger.record(cast.license_id, "dribbling")
    assert record.version == 21
    assert record.active is not None
    assert record.active.points_earned == 11
    assert len(record.archived) == 10
    assert services.ledger.snapshots is not None
    snapshots = list(services.ledger.snapshots.get(record.id))
    assert [snapshot.originator_version for snapshot in snapshots] == [5, 9, 13, 17, 21]
    fresh = open_services(database_url, snapshot_interval=4)
    assert fresh.ledger.record(cast.license_id, "dribbling").active == record.active


def test_the_score_jump_counts_from_the_last_assessment_even_when_archived(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, policy=ValidationPolicy(new_instructor_assessments=0))
    cast = seed_cast(services)
    low = services.ledger.assess(cast.instructor, cast.license_id, "passing", 2, 10)
    project(services)
    services.ledger.archive(cast.instructor, low.assessment_id, "let me redo this")
    high = services.ledger.assess(cast.instructor, cast.license_id, "passing", 10, 10)
    assert high.outcome is Outcome.CREATED
    assert high.assessment is not None
    assert high.assessment.requires_validation


def test_replacing_a_validated_or_someone_elses_assessment_needs_validation(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, policy=ValidationPolicy(new_instructor_assessments=0))
    cast = seed_cast(services)
    theirs = services.ledger.assess(cast.other_instructor, cast.license_id, "passing", 8, 10)
    project(services)
    services.ledger.validate(cast.admin, theirs.assessment_id)
    mine = services.ledger.assess(cast.instructor, cast.license_id, "passing", 9, 10)
    project(services)
    services.ledger.archive(cast.instructor, mine.assessment_id, "never mind")
    on_other = services.ledger.assess(cast.other_instructor, cast.license_id, "dribbling", 5, 10)
    replaced = services.ledger.assess(cast.instructor, cast.license_id, "dribbling", 6, 10)
    own = services.ledger.assess(cast.instructor, cast.license_id, "dribbling", 7, 10)

    assert mine.outcome is Outcome.REPLACED
    assert mine.assessment is not None
    assert mine.assessment.requires_validation, "replaced a validated assessment"
    assert on_other.assessment is not None
    assert not on_other.assessment.requires_validation
    assert replaced.assessment is not None
    assert replaced.assessment.requires_validation, "replaced another instructor's"
    assert own.assessment is not None
    assert not own.assessment.requires_validation, "replaced its own, small change"


class CountingObserver(NullObserver):
    """The observer port, counting what the tests look at."""

    def __init__(self) -> None:
        self.snapshot_failures = 0

    def snapshot_failed(self) -> None:
        self.snapshot_failures += 1


REFUSE_SNAPSHOTS = {
    "sqlite": [
        "CREATE TRIGGER refuse_snapshots BEFORE INSERT ON stored_snapshots "
        "BEGIN SELECT RAISE(ABORT, 'snapshot store refuses writes'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_snapshots() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'snapshot store refuses writes'; END $$",
        "CREATE TRIGGER refuse_snapshots BEFORE INSERT ON ledger_snapshots "
        "FOR EACH ROW EXECUTE FUNCTION refuse_snapshots()",
    ],
}


def test_a_failing_snapshot_neither_fails_the_recorded_command_nor_goes_unnoticed(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    observer = CountingObserver()
    services = open_services(database_url, snapshot_interval=2, observer=observer)
    cast = seed_cast(services)
    with services.db.transaction() as cursor:
        for statement in REFUSE_SNAPSHOTS[database_url.backend]:
            cursor.execute(statement)

    first = services.ledger.assess(cast.instructor, cast.license_id, "passing", 3, 10)
    second = services.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)

    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.REPLACED)
    assert observer.snapshot_failures == 1  # versions 2–3 crossed the interval
    record = services.ledger.record(cast.license_id, "passing")
    assert record.version == 3
    assert record.active is not None
    assert record.active.id == second.assessment_id
    project(services)
    assert services.readmodel.get(second.assessment_id) is not None


def test_rebuild_reproduces_the_live_table(services: Services, cast: Cast) -> None:
    for skill in ("passing", "dribbling", "shooting"):
        for points in (3, 4, 4, 7):
            services.ledger.assess(cast.instructor, cast.license_id, skill, points, 10)
    project(services)
    live = services.readmodel.all()
    stats = services.projector.rebuild()
    assert services.readmodel.all() == live
    assert stats.events == 3 * 5 + CAST_EVENTS  # per skill: 1 + 2 + 0 (identical) + 2
    assert stats.rows == len(live) == 9
    assert services.projector.tracked_position() == stats.position

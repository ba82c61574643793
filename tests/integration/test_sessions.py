"""A training session graded through the use case on SQLite and PostgreSQL: the same outcomes
as one command per item, few transactions, and records loaded right (cache, snapshots)."""

from __future__ import annotations

from collections.abc import Callable

from skill_ledger.application import AssessItem, CommandResult
from skill_ledger.domain import LicenseNotFound, NotPermitted, Outcome, Status
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import Cast, seed_cast

SKILLS = ("passing", "dribbling", "shooting", "heading")


def outcomes(results: list[object]) -> list[object]:
    return [r.outcome if isinstance(r, CommandResult) else type(r) for r in results]


def test_a_session_gives_each_item_the_single_commands_outcome(
    services: Services, cast: Cast
) -> None:
    services.start_projector()
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10)
    items = [
        AssessItem(cast.license_id, "passing", 5, 10),  # identical
        AssessItem(cast.license_id, "dribbling", 6, 10),  # created
        AssessItem(cast.license_id, "passing", 7, 10),  # replaces (next round)
        AssessItem(999_999, "passing", 1, 10),
        AssessItem(cast.license_id, "shooting", 11, 10),
    ]
    answers = services.assessments.assess_session(cast.instructor, items)
    kinds = [a.result.outcome if not isinstance(a, Exception) else type(a) for a in answers]
    assert kinds[:3] == [Outcome.IDENTICAL, Outcome.CREATED, Outcome.REPLACED]
    assert kinds[3] is LicenseNotFound
    assert kinds[4].__name__ == "InvalidAssessment"
    history = services.readmodel.history(cast.license_id, "passing")
    assert [(row.points_earned, row.status) for row in history] == [
        (7, Status.ASSESSED),
        (5, Status.ARCHIVED),
    ]


def test_a_students_session_is_refused_item_by_item(services: Services, cast: Cast) -> None:
    results = services.assessments.grading.grade(
        cast.student, [AssessItem(cast.license_id, s, 1, 2) for s in SKILLS]
    )
    assert outcomes(results) == [NotPermitted] * len(SKILLS)


def test_a_session_is_saved_in_one_transaction(services: Services, cast: Cast) -> None:
    committer = services.ledger.committer
    batches = committer.batches
    results = services.assessments.grading.grade(
        cast.admin, [AssessItem(cast.license_id, s, 3, 4) for s in SKILLS]
    )
    assert outcomes(results) == [Outcome.CREATED] * len(SKILLS)
    assert committer.batches == batches + 1


def test_records_past_a_snapshot_and_changed_by_another_process_are_loaded_current(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    first = open_services(database_url, snapshot_interval=4)
    other = open_services(database_url, snapshot_interval=4)
    cast = seed_cast(first)
    for points in range(1, 8):  # 13 events: snapshots at versions 4, 8 and 12
        first.ledger.assess(cast.admin, cast.license_id, "passing", points, 10)
    grading = first.assessments.grading
    # Cached in `first` now; `other` replaces it behind its back, twice.
    assert (
        outcomes(grading.grade(cast.admin, [AssessItem(cast.license_id, "passing", 7, 10)]))[0]
        is Outcome.IDENTICAL
    )
    other.ledger.assess(cast.admin, cast.license_id, "passing", 9, 10)
    other.ledger.assess(cast.admin, cast.license_id, "passing", 8, 10)
    again = grading.grade(cast.admin, [AssessItem(cast.license_id, "passing", 8, 10)])
    assert outcomes(again) == [Outcome.IDENTICAL]
    # A process that never saw the stream rebuilds it from the latest snapshot.
    fresh = open_services(database_url, snapshot_interval=4)
    result = fresh.assessments.grading.grade(
        cast.admin, [AssessItem(cast.license_id, "passing", 6, 10)]
    )[0]
    assert isinstance(result, CommandResult)
    assert result.outcome is Outcome.REPLACED
    assert fresh.ledger.record(cast.license_id, "passing").version == 19

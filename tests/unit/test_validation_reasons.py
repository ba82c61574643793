"""The policy says why an assessment waits for an admin, in words, by the same rules it decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from skill_ledger.domain import Actor, Assessment, Role, Status, ValidationPolicy

INSTRUCTOR = Actor(7, Role.INSTRUCTOR)
NOW = datetime(2026, 5, 1, tzinfo=UTC)
PRIOR = Assessment(
    id=uuid4(),
    user_license_id=1,
    skill_name="passing",
    points_earned=5,
    points_total=10,
    notes="",
    status=Status.ASSESSED,
    requires_validation=False,
    assessed_by=7,
    assessed_at=NOW,
    previous_status=Status.NOT_ASSESSED,
    status_changed_at=NOW,
    status_changed_by=7,
)


def test_an_admins_assessment_needs_no_reason() -> None:
    assert ValidationPolicy().reasons(Actor(1, Role.ADMIN), 0, 100.0, 0.0) == ()


def test_a_new_instructor_is_told_which_of_their_first_assessments_it_is() -> None:
    assert ValidationPolicy().reasons(INSTRUCTOR, 2, 50.0, None) == (
        "new instructor: assessment 3 of their first 10",
    )


def test_a_score_jump_names_both_scores() -> None:
    reasons = ValidationPolicy().reasons(INSTRUCTOR, 10, 90.0, 50.0)
    assert reasons == ("score jump: 50% → 90% (at least 25 points)",)


def test_replacing_a_validated_assessment_by_someone_else_gives_both_reasons() -> None:
    replacing = replace(PRIOR, status=Status.VALIDATED, assessed_by=8)
    reasons = ValidationPolicy().reasons(INSTRUCTOR, 10, 60.0, 50.0, replacing)
    assert reasons == ("replaces a validated assessment", "replaces an assessment by user 8")


@pytest.mark.parametrize(
    ("prior", "percentage", "last", "replacing"),
    [
        (0, 50.0, None, None),
        (10, 50.0, None, None),
        (10, 80.0, 50.0, None),
        (10, 55.0, 50.0, PRIOR),
        (10, 55.0, 50.0, replace(PRIOR, status=Status.VALIDATED)),
        (10, 55.0, 50.0, replace(PRIOR, assessed_by=9)),
    ],
)
def test_requires_validation_exactly_when_there_is_a_reason(
    prior: int, percentage: float, last: float | None, replacing: Assessment | None
) -> None:
    policy = ValidationPolicy()
    reasons = policy.reasons(INSTRUCTOR, prior, percentage, last, replacing)
    assert policy.requires_validation(INSTRUCTOR, prior, percentage, last, replacing) == bool(
        reasons
    )

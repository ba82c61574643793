"""The reads the console adds, on both backends: the validation queue and why, my assessments,
a license's standing."""

from __future__ import annotations

import pytest

from skill_ledger.domain import NotPermitted, Status
from skill_ledger.services import Services
from tests.conftest import Cast


@pytest.fixture(autouse=True)
def projecting(services: Services) -> None:
    """Commands through the use cases wait for the read side: run the projector."""
    services.start_projector()


def test_the_queue_is_oldest_first_with_reasons_and_marks_the_viewers_own(
    services: Services, cast: Cast
) -> None:
    use = services.assessments
    first = use.assess(cast.instructor, cast.license_id, "passing", 5, 10, "").assessment
    second = use.assess(cast.instructor, cast.license_id, "passing", 9, 10, "").assessment
    mine = use.assess(cast.instructor, cast.license_id, "shooting", 1, 10, "").assessment
    queue = use.validation_queue(cast.admin, 10)
    assert [w.assessment.id for w in queue] == [second.id, mine.id]  # the first was replaced
    assert not any(w.own for w in queue)
    assert queue[0].reasons == (
        "new instructor: assessment 2 of their first 10",
        "score jump: 50% → 90% (at least 25 points)",
    )
    assert queue[1].reasons == ("new instructor: assessment 3 of their first 10",)
    assert first.id not in {w.assessment.id for w in queue}


def test_replacing_another_instructors_assessment_is_given_as_the_reason(
    services: Services, cast: Cast
) -> None:
    use = services.assessments
    use.assess(cast.admin, cast.license_id, "heading", 5, 10, "")
    replacing = use.assess(cast.instructor, cast.license_id, "heading", 6, 10, "").assessment
    (waiting,) = use.validation_queue(cast.other_admin, 10)
    assert waiting.assessment.id == replacing.id
    assert f"replaces an assessment by user {cast.admin.user_id}" in waiting.reasons


def test_the_queue_marks_an_admins_own_assessment_from_before_their_promotion(
    services: Services, cast: Cast
) -> None:
    made = services.assessments.assess(cast.instructor, cast.license_id, "vision", 3, 10, "")
    services.accounts.set_role(cast.instructor.user_id, "admin")
    promoted = type(cast.instructor)(cast.instructor.user_id, cast.admin.role)
    (waiting,) = services.assessments.validation_queue(promoted, 10)
    assert (waiting.assessment.id, waiting.own) == (made.assessment.id, True)


def test_only_admins_read_the_queue(services: Services, cast: Cast) -> None:
    for actor in (cast.instructor, cast.student, cast.auditor):
        with pytest.raises(NotPermitted):
            services.assessments.validation_queue(actor, 10)


def test_my_assessments_are_the_actors_own_newest_first(services: Services, cast: Cast) -> None:
    use = services.assessments
    a = use.assess(cast.instructor, cast.license_id, "passing", 5, 10, "").assessment
    b = use.assess(cast.instructor, cast.license_id, "shooting", 6, 10, "").assessment
    use.assess(cast.other_instructor, cast.license_id, "tackling", 6, 10, "")
    assert [row.id for row in use.made_by(cast.instructor, 10)] == [b.id, a.id]
    with pytest.raises(NotPermitted):
        use.made_by(cast.student, 10)


def test_a_standing_is_one_active_row_per_skill_and_only_for_the_holder(
    services: Services, cast: Cast
) -> None:
    use = services.assessments
    use.assess(cast.admin, cast.license_id, "passing", 5, 10, "")
    use.assess(cast.admin, cast.license_id, "passing", 7, 10, "")
    archived = use.assess(cast.admin, cast.license_id, "speed", 7, 10, "").assessment
    use.archive(cast.admin, archived.id, "wrong drill")
    standing = use.standing(cast.student, cast.license_id)
    assert [(row.skill_name, row.points_earned, row.status) for row in standing] == [
        ("passing", 7, Status.ASSESSED)
    ]
    other = services.accounts.add_user("other@academy.test", "Other", "student", "a-long-password")
    with pytest.raises(NotPermitted):
        use.standing(type(cast.student)(other.id, other.role), cast.license_id)

"""A rebuild writes exactly the table the live projector wrote, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from skill_ledger.domain import Status
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS, Cast, seed_cast

AWKWARD_NOTES = "tab\there, line\nbreak, back\\slash, \\N, ünïcödé ⚽"


def test_rebuild_reproduces_every_kind_of_event_the_live_projector_wrote(
    services: Services, cast: Cast
) -> None:
    ledger = services.ledger
    first = ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10, AWKWARD_NOTES)
    services.projector.catch_up()
    ledger.validate(cast.admin, first.assessment_id)
    replaced = ledger.assess(cast.instructor, cast.license_id, "passing", 7, 10, "better")
    services.projector.catch_up()
    ledger.archive(cast.admin, replaced.assessment_id, "wrong license\twith a tab")
    kept = ledger.assess(cast.admin, cast.license_id, "dribbling", 3, 20)
    services.projector.catch_up()
    ledger.validate(cast.other_admin, kept.assessment_id)
    ledger.assess(cast.other_instructor, cast.license_id, "shooting", 0, 100, "")
    services.projector.catch_up()
    live = services.readmodel.all()

    stats = services.projector.rebuild()

    assert services.readmodel.all() == live
    assert stats.rows == len(live) == 4
    assert stats.events == 8 + CAST_EVENTS  # the account events are read and skipped
    assert {row.status for row in live.values()} == {
        Status.ARCHIVED,
        Status.VALIDATED,
        Status.ASSESSED,
    }
    assert live[first.assessment_id].notes == AWKWARD_NOTES
    assert live[first.assessment_id].previous_status is Status.VALIDATED


def test_a_second_rebuild_replaces_the_first_with_the_same_rows(
    services: Services, cast: Cast
) -> None:
    for points in (1, 2, 3):
        services.ledger.assess(cast.instructor, cast.license_id, "heading", points, 10)
    first = services.projector.rebuild()
    rows = services.readmodel.all()

    second = services.projector.rebuild()

    assert services.readmodel.all() == rows
    assert (second.rows, second.events, second.position) == (
        first.rows,
        5 + CAST_EVENTS,
        first.position,
    )
    assert services.projector.tracked_position() == second.position


def test_rebuild_works_with_a_pool_of_one_connection(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, pool_size=1)
    cast = seed_cast(services)
    services.ledger.assess(cast.instructor, cast.license_id, "vision", 4, 10)
    services.ledger.assess(cast.instructor, cast.license_id, "vision", 6, 10)

    stats = services.projector.rebuild()

    assert (stats.events, stats.rows) == (3 + CAST_EVENTS, 2)

"""A projection version newer than the table's: the leader rebuilds (in place on SQLite)."""

from __future__ import annotations

import time
from collections.abc import Callable

from skill_ledger.domain import fold
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import seed_cast
from tests.e2e.ledger_state import all_events


def test_on_sqlite_a_newer_projection_version_rebuilds_in_place_and_records_the_version(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(sqlite_url)
    cast = seed_cast(services)
    services.projector.version = 2
    services.start_projector()
    services.assessments.assess(cast.instructor, cast.license_id, "passing", 4, 10, "")
    deadline = time.monotonic() + 15
    while services.projector.tracking.version() != 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert services.projector.tracking.version() == 2
    assert services.readmodel.all() == fold({}, all_events(services))


def test_a_table_built_by_a_newer_version_than_the_code_is_left_alone(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(sqlite_url)
    with services.db.transaction() as cursor:
        services.projector.tracking.lock(cursor)
        services.projector.tracking.set_version(cursor, 5)
    services.start_projector()
    cast = seed_cast(services)
    services.assessments.assess(cast.instructor, cast.license_id, "passing", 4, 10, "")

    assert services.projector.tracking.version() == 5

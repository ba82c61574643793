"""On PostgreSQL one projector leads per projection; a standby takes over when the leader goes."""

from __future__ import annotations

import time
from collections.abc import Callable

from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import seed_cast


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_one_projector_leads_and_a_standby_takes_over(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    first = open_services(postgres_url, projection_idle_seconds=0.2)
    second = open_services(postgres_url, projection_idle_seconds=0.2)
    cast = seed_cast(first)
    first.start_projector()
    assert wait_until(lambda: first.projector.leading)
    second.start_projector()
    time.sleep(0.5)
    assert not second.projector.leading

    created = first.ledger.assess(cast.instructor, cast.license_id, "passing", 3, 10)
    assert second.projector.watch.wait_for(created.position or 0, 10.0), "standby follows progress"

    first.close()
    assert wait_until(lambda: second.projector.leading), "standby took over"
    replaced = second.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
    assert second.consistency.wait(replaced.position)
    row = second.readmodel.get(replaced.assessment_id)
    assert row is not None
    assert row.points_earned == 4

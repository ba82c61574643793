"""Sixteen writers on one (license, skill) pair converge through version conflicts and retries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from skill_ledger.application import CommandResult
from skill_ledger.domain import REPLACED_BY_NEW, Outcome, SkillRecord, Status
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import Cast, seed_cast

WRITERS = 16
SKILL = "ball_control"
T = TypeVar("T")


def all_at_once(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the calls in parallel threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(released, call) for call in calls]
        return [future.result() for future in futures]


def assessed_events(services: Services) -> list[SkillRecord.Assessed]:
    """Every Assessed event in the store's notification log."""
    with services.db.transaction(write=False) as cursor:
        logged = services.eventlog.read(cursor, 0, 1_000_000)
    events = [services.eventlog.decode(item) for item in logged]
    return [e for e in events if isinstance(e, SkillRecord.Assessed)]


def test_sixteen_identical_assessments_record_one_and_report_the_rest_identical(
    services: Services, cast: Cast
) -> None:
    def assess() -> CommandResult:
        return services.ledger.assess(cast.instructor, cast.license_id, SKILL, 7, 10, "same")

    results = all_at_once([assess] * WRITERS)

    outcomes = sorted(result.outcome for result in results)
    assert outcomes == [Outcome.CREATED] + [Outcome.IDENTICAL] * (WRITERS - 1)
    assert len({result.assessment_id for result in results}) == 1
    [event] = assessed_events(services)
    assert event.assessment_id == results[0].assessment_id
    assert sum(result.recorded for result in results) == 1
    services.projector.catch_up()
    [row] = services.readmodel.history(cast.license_id, SKILL)
    assert (row.id, row.status) == (event.assessment_id, Status.ASSESSED)


def test_sixteen_different_assessments_leave_one_active_and_fifteen_replaced(
    services: Services, cast: Cast
) -> None:
    def assess(points: int) -> Callable[[], CommandResult]:
        return lambda: services.ledger.assess(cast.instructor, cast.license_id, SKILL, points, 20)

    results = all_at_once([assess(points) for points in range(WRITERS)])

    outcomes = sorted(result.outcome for result in results)
    assert outcomes == [Outcome.CREATED] + [Outcome.REPLACED] * (WRITERS - 1)
    ids = {result.assessment_id for result in results}
    assert len(ids) == WRITERS
    assert {event.assessment_id for event in assessed_events(services)} == ids
    services.projector.catch_up()
    rows = services.readmodel.history(cast.license_id, SKILL)
    assert {row.id for row in rows} == ids
    active = [row for row in rows if row.is_active]
    archived = [row for row in rows if row.status is Status.ARCHIVED]
    assert len(active) == 1
    assert len(archived) == WRITERS - 1
    assert {row.archived_reason for row in archived} == {REPLACED_BY_NEW}
    record = services.ledger.record(cast.license_id, SKILL)
    assert record.active is not None
    assert record.active.id == active[0].id
    assert set(record.archived) == {row.id for row in archived}


def test_writers_in_two_processes_with_their_own_caches_converge_too(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    first = open_services(database_url)
    second = open_services(database_url)
    cast = seed_cast(first)
    # Warm both aggregate caches, so each instance must fast-forward past the other's writes.
    for services in (first, second):
        services.ledger.assess(cast.instructor, cast.license_id, SKILL, 19, 20)

    def assess(services: Services, points: int) -> Callable[[], CommandResult]:
        return lambda: services.ledger.assess(cast.instructor, cast.license_id, SKILL, points, 20)

    results = all_at_once(
        [assess(first if points % 2 else second, points) for points in range(WRITERS)]
    )

    assert [result.outcome for result in results] == [Outcome.REPLACED] * WRITERS
    first.projector.catch_up()
    rows = first.readmodel.history(cast.license_id, SKILL)
    assert len(rows) == WRITERS + 1
    assert sum(row.is_active for row in rows) == 1
    assert {result.assessment_id for result in results} < {row.id for row in rows}
    for services in (first, second):
        record = services.ledger.record(cast.license_id, SKILL)
        assert record.active is not None
        assert record.version == 1 + 2 * WRITERS

"""The projector on real PostgreSQL and SQLite: exactly once, crash-safe, following the log."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID, uuid4

import psycopg
import pytest

from skill_ledger.database import Cursor
from skill_ledger.domain import Assessment, SkillRecord, Status, fold
from skill_ledger.eventstore.log import LoggedEvent
from skill_ledger.readside.projector import Projector
from skill_ledger.readside.table import write_rows
from skill_ledger.readside.tracking import PositionAlreadyProjected, Tracking
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS, Cast, seed_cast

WAIT = 10.0  # bound on every wait; tests pass as soon as the condition holds
T = TypeVar("T")


class SimulatedCrash(Exception):
    """The process died in the middle of a batch."""


def logged_events(services: Services) -> list[LoggedEvent]:
    """The whole notification log, in order."""
    with services.db.transaction(write=False) as cursor:
        return services.eventlog.read(cursor, 0, 1_000_000)


def folded(services: Services, upto: int | None = None) -> dict[UUID, Assessment]:
    """The read table as the pure fold over the log (up to a position) says it should be."""
    events = [
        services.eventlog.decode(item)
        for item in logged_events(services)
        if upto is None or item.position <= upto
    ]
    return fold({}, events)


def record_history(services: Services, cast: Cast) -> None:
    """Assessments, replacements and an identical repeat on three skills (15 events)."""
    for skill in ("passing", "dribbling", "shooting"):
        for points in (3, 5, 5, 8):
            services.ledger.assess(cast.instructor, cast.license_id, skill, points, 10)


def active_row(services: Services, cast: Cast, skill: str) -> Assessment:
    """The pair's active assessment in the read table."""
    rows = [r for r in services.readmodel.history(cast.license_id, skill) if r.is_active]
    assert len(rows) == 1
    return rows[0]


def eventually(probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll `probe` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout} s")
        time.sleep(0.02)


@contextmanager
def running(projector: Projector) -> Iterator[threading.Thread]:
    """`Projector.run(stop)` in a background thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=projector.run, args=(stop,), name="test-projector")
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=WAIT)
    assert not thread.is_alive()


class CrashingProjector(Projector):
    """Dies inside its n-th batch, after it has written that batch's rows."""

    def __init__(self, *args: Any, crash_in_batch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_in_batch = crash_in_batch
        self.batches = 0
        self.rows_written_before_crash = 0

    def apply_batch(self, cursor: Cursor, after: int, events: list[Any]) -> int:
        written = super().apply_batch(cursor, after, events)
        self.batches += 1
        if self.batches == self.crash_in_batch:
            self.rows_written_before_crash = written
            raise SimulatedCrash(f"killed after writing {written} rows")
        return written


class StaleTracking(Tracking):
    """Locks the tracking row but reports position 0."""

    def lock(self, cursor: Cursor) -> int:
        super().lock(cursor)
        return 0


class StaleProjector(Projector):
    """Believes it is at position 0: a second copy that lost its place, replaying the log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracking = StaleTracking(self.db, self.name)


class ForgetfulProjector(Projector):
    """A buggy projection that drops Archived events, so replacements leave two active rows."""

    def apply_batch(self, cursor: Cursor, after: int, events: list[Any]) -> int:
        kept = [e for e in events if not isinstance(e, SkillRecord.Archived)]
        return super().apply_batch(cursor, after, kept)


def test_crash_mid_batch_rolls_back_and_restart_converges_to_the_full_fold(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, projection_batch_size=4)
    cast = seed_cast(services)
    record_history(services, cast)
    services.projector.catch_up()
    services.ledger.validate(cast.admin, active_row(services, cast, "passing").id)
    services.ledger.archive(cast.admin, active_row(services, cast, "dribbling").id, "injury")
    services.ledger.assess(cast.instructor, cast.license_id, "shooting", 1, 10)
    services.ledger.assess(cast.instructor, cast.license_id, "heading", 6, 10)
    services.ledger.assess(cast.other_instructor, cast.license_id, "heading", 7, 10)
    log = logged_events(services)
    start = services.projector.tracked_position()
    pending = [item.position for item in log if item.position > start]
    assert len(pending) == 7  # validate, archive, replace (2), first (1), replace (2)

    crashing = CrashingProjector(
        services.db, services.eventlog, batch_size=4, crash_in_batch=2, name=services.projector.name
    )
    with pytest.raises(SimulatedCrash):
        crashing.catch_up()

    assert crashing.rows_written_before_crash > 0
    survived = pending[3]  # the first batch committed, the second rolled back
    assert services.projector.tracked_position() == survived
    assert services.readmodel.all() == folded(services, upto=survived)
    assert services.readmodel.all() != folded(services)

    restarted = Projector(services.db, services.eventlog, batch_size=4)
    assert restarted.catch_up() == len(pending) - 4
    live = services.readmodel.all()
    assert live == folded(services)
    assert restarted.tracked_position() == log[-1].position
    assert services.projector.rebuild().position == log[-1].position
    assert services.readmodel.all() == live


def test_a_replayed_position_is_refused_and_changes_nothing(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    record_history(services, cast)
    services.projector.catch_up()
    table = services.readmodel.all()
    position = services.projector.tracked_position()

    stale = StaleProjector(services.db, services.eventlog)
    with pytest.raises(PositionAlreadyProjected):
        stale.run_batch()

    assert services.projector.tracked_position() == position
    assert services.readmodel.all() == table


def test_two_projectors_catching_up_together_project_each_event_once(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    writer = open_services(database_url)
    cast = seed_cast(writer)
    record_history(writer, cast)
    for license_skill in ("vision", "agility", "speed"):
        for points in (1, 2, 3):
            writer.ledger.assess(cast.other_instructor, cast.license_id, license_skill, points, 5)
    total = len(logged_events(writer))
    first = open_services(database_url, projection_batch_size=3)
    second = open_services(database_url, projection_batch_size=3)
    start = threading.Barrier(2)
    counts: dict[str, int] = {}

    def project(name: str, services: Services) -> None:
        start.wait()
        counts[name] = services.projector.catch_up()

    threads = [
        threading.Thread(target=project, args=(name, services))
        for name, services in (("first", first), ("second", second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)

    assert sum(counts.values()) == total
    table = writer.readmodel.all()
    assert table == folded(writer)
    assert len(table) == 3 * 3 + 3 * 3  # Assessed events: 3 per skill, identical repeats excluded
    assert writer.projector.tracked_position() == logged_events(writer)[-1].position


def test_run_follows_events_written_after_it_started(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    with running(services.projector):
        first = services.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
        second = services.ledger.assess(cast.instructor, cast.license_id, "passing", 7, 10)
        assert second.position is not None
        assert services.projector.watch.wait_for(second.position, timeout=WAIT)
        row = services.readmodel.get(first.assessment_id)
    assert row is not None
    assert row.status is Status.ARCHIVED
    assert services.readmodel.all() == folded(services)
    assert services.projector.tracked_position() == second.position
    assert services.projector.status().lag_events == 0


def listening_backends(url: DatabaseURL) -> list[int]:
    """Backends of this database whose last statement was LISTEN ledger_events."""
    with psycopg.connect(url.with_dbname("postgres").conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query = %s",
            (url.dbname, "LISTEN ledger_events"),
        ).fetchall()
    return [row[0] for row in rows]


def test_run_on_postgres_survives_its_listen_connection_being_killed(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(postgres_url)
    cast = seed_cast(services)
    with running(services.projector) as thread:
        [listener] = eventually(lambda: listening_backends(postgres_url))
        before = services.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
        assert before.position is not None
        assert services.projector.watch.wait_for(before.position, timeout=WAIT)

        with psycopg.connect(postgres_url.conninfo(), autocommit=True) as admin:
            killed = admin.execute("SELECT pg_terminate_backend(%s)", (listener,)).fetchone()
        assert killed == (True,)

        after = services.ledger.assess(cast.instructor, cast.license_id, "passing", 9, 10)
        assert after.position is not None
        assert services.projector.watch.wait_for(after.position, timeout=WAIT)
        # The killed backend may linger in pg_stat_activity for a moment; wait for a new one.
        assert eventually(lambda: [p for p in listening_backends(postgres_url) if p != listener])
        assert thread.is_alive()
    assert services.readmodel.all() == folded(services)


def test_tracking_advances_over_every_event(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url, projection_batch_size=2)
    cast = seed_cast(services)
    record_history(services, cast)
    positions = [item.position for item in logged_events(services)]
    seen: list[int] = []
    while services.projector.run_batch():
        seen.append(services.projector.tracked_position())
    assert seen == positions[1::2] + ([positions[-1]] if len(positions) % 2 else [])
    assert services.projector.tracked_position() == positions[-1]
    assert services.projector.watch.position == positions[-1]


def test_wait_for_returns_true_once_passed_and_false_on_timeout(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    result = services.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
    assert result.position is not None
    watch = services.projector.watch
    assert watch.wait_for(result.position, timeout=0.05) is False

    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(watch.wait_for(result.position, WAIT)))
    waiter.start()
    services.projector.catch_up()
    waiter.join(timeout=WAIT)

    assert outcome == [True]
    assert watch.wait_for(result.position, timeout=0) is True
    assert watch.wait_for(result.position + 1, timeout=0) is False


def test_status_reports_lag_until_caught_up(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    empty = services.projector.status()
    record_history(services, cast)
    behind = services.projector.status()
    services.projector.catch_up()
    caught_up = services.projector.status()

    # Before any assessment, the log already holds the cast's account events.
    assert (empty.position, empty.head, empty.lag_events, empty.last_batch_at) == (
        0,
        CAST_EVENTS,
        CAST_EVENTS,
        None,
    )
    head = logged_events(services)[-1].position
    assert (behind.position, behind.head, behind.lag_events) == (0, head, 15 + CAST_EVENTS)
    assert (caught_up.position, caught_up.head, caught_up.lag_events) == (head, head, 0)
    assert caught_up.last_batch_at is not None


def unique_violation(url: DatabaseURL) -> type[Exception]:
    """What the driver raises when the partial unique index refuses a second active row."""
    return psycopg.errors.UniqueViolation if url.is_postgres else sqlite3.IntegrityError


def test_a_second_active_row_for_a_pair_is_refused_by_the_partial_unique_index(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    record_history(services, cast)
    services.projector.catch_up()
    table = services.readmodel.all()
    active = active_row(services, cast, "passing")
    conflicting = dataclasses.replace(active, id=uuid4(), points_earned=1, status=Status.VALIDATED)

    with (
        pytest.raises(unique_violation(database_url), match=r"(?i)unique"),
        services.db.transaction() as cursor,
    ):
        write_rows(cursor, [conflicting])

    assert services.readmodel.all() == table


def test_a_projection_bug_leaving_two_active_rows_fails_loudly_and_commits_nothing(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 3, 10)
    services.projector.catch_up()
    table = services.readmodel.all()
    position = services.projector.tracked_position()
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 8, 10)

    buggy = ForgetfulProjector(services.db, services.eventlog)
    with pytest.raises(unique_violation(database_url)):
        buggy.catch_up()

    assert services.projector.tracked_position() == position
    assert services.readmodel.all() == table
    assert services.projector.catch_up() == 2
    assert services.readmodel.all() == folded(services)

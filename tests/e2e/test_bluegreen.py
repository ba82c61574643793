"""Blue-green rebuilds on PostgreSQL: the new table is filled beside the live one while commands,
reads and the live projector go on, and swapped in with its views, grants and index names.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from skill_ledger.readside import reports
from skill_ledger.readside.bluegreen import NEXT_TABLE, SwapStats
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL
from tests.conftest import seed_cast
from tests.e2e.ledger_state import table_and_fold
from tests.e2e.test_faults import record_backlog

BACKLOG_EVENTS = 20_000
CATALOGUE = {
    "indexes": "SELECT indexname FROM pg_indexes WHERE tablename = 'football_skill_assessments'",
    "views": "SELECT DISTINCT v.relname FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
    "JOIN pg_class v ON v.oid = r.ev_class WHERE d.refobjid = "
    "'football_skill_assessments'::regclass AND v.relkind = 'v'",
    "grants": "SELECT table_name, grantee, privilege_type "
    "FROM information_schema.role_table_grants WHERE grantee = 'ledger_analyst'",
    "leftovers": f"SELECT relname FROM pg_class WHERE relname LIKE '{NEXT_TABLE}%'",
}


def catalogue(services: Services) -> dict[str, set[Any]]:
    """Index names, views over the read table, the analysts' grants, leftovers of a rebuild."""
    found: dict[str, set[Any]] = {}
    with services.db.transaction(write=False) as cursor:
        for key, sql in CATALOGUE.items():
            cursor.execute(sql)
            found[key] = {tuple(row) for row in cursor.fetchall()}
    return found


def test_a_rebuild_swaps_in_a_new_table_with_the_views_grants_and_index_names_of_the_old(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(postgres_url)
    cast = seed_cast(services)
    services.start_projector()
    for points, skill in enumerate(DEFAULT_SKILLS[:6]):
        services.assessments.assess(cast.instructor, cast.license_id, skill, points, 10, "")
    before = catalogue(services)
    state_before = reports.run(services.db, "state_distribution").rows

    stats = services.projector.rebuild()
    after = catalogue(services)
    table, folded = table_and_fold(services)

    assert isinstance(stats, SwapStats)
    assert after == before
    assert after["leftovers"] == set()
    assert ("football_skill_assessments", "ledger_analyst", "SELECT") in after["grants"]
    assert reports.run(services.db, "state_distribution").rows == state_before
    assert table == folded
    assert services.projector.tracked_position() == services.projector.status().head


def test_commands_reads_and_the_live_projector_go_on_during_a_rebuild(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(postgres_url)
    cast = seed_cast(services)
    record_backlog(services, cast, BACKLOG_EVENTS)
    services.start_projector()
    services.consistency.reach_head()
    rebuilder = open_services(postgres_url)
    stop = threading.Event()
    failures: list[str] = []
    counts: list[int] = []
    stale: list[str] = []

    def command(index: int) -> None:
        skill = DEFAULT_SKILLS[index]
        points = 0
        while not stop.is_set():
            points = (points + 1) % 11
            try:
                answer = services.assessments.assess(
                    cast.other_instructor, cast.license_id, skill, points, 10, "during"
                )
                row = services.assessments.get(cast.admin, answer.assessment.id)
                if row.points_earned != points:
                    stale.append(f"{skill}: {row.points_earned} instead of {points}")
            except Exception as e:
                failures.append(f"{type(e).__name__}: {e}")

    def count() -> None:
        while not stop.is_set():
            with services.db.transaction(write=False) as cursor:
                cursor.execute("SELECT count(*) FROM football_skill_assessments")
                counts.append(int(cursor.fetchone()[0]))

    threads = [threading.Thread(target=command, args=(i,)) for i in range(2)]
    threads.append(threading.Thread(target=count))
    for thread in threads:
        thread.start()
    try:
        stats = rebuilder.projector.rebuild()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    services.consistency.reach_head()
    table, folded = table_and_fold(services)
    print(
        f"\nblue-green rebuild under load: {stats.events} events in {stats.seconds:.1f} s, "
        f"{stats.caught_up if isinstance(stats, SwapStats) else 0} caught up, swap "
        f"{stats.swap_ms if isinstance(stats, SwapStats) else 0:.1f} ms; {len(counts)} counts"
    )

    assert isinstance(stats, SwapStats)
    assert failures == []
    assert stale == []
    assert counts, "the reader ran"
    assert all(later >= earlier for earlier, later in itertools.pairwise(counts)), (
        "readers never see an empty or partial table"
    )
    assert table == folded


def test_code_with_a_new_projection_version_rebuilds_in_the_background_and_swaps(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    old = open_services(postgres_url)
    cast = seed_cast(old)
    old.start_projector()
    for points, skill in enumerate(DEFAULT_SKILLS[:4]):
        old.assessments.assess(cast.instructor, cast.license_id, skill, points, 10, "")
    assert old.projector.tracking.version() == 1
    old.close()

    new = open_services(postgres_url)
    new.projector.version = 2
    new.start_projector()
    deadline = time.monotonic() + 30
    while new.projector.tracking.version() != 2 and time.monotonic() < deadline:
        new.assessments.assess(cast.instructor, cast.license_id, "passing", 5, 10, "meanwhile")
        time.sleep(0.05)
    new.consistency.reach_head()
    table, folded = table_and_fold(new)

    assert new.projector.tracking.version() == 2
    assert table == folded
    assert catalogue(new)["leftovers"] == set()

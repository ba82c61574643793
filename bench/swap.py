"""The blue-green swap under write load: what `ledger projection rebuild` makes others wait for.

While the rebuild fills its new table beside the live one, a live projector (in another
Services) keeps projecting, two clients run assess commands answered once readable, and one
client reads a pair's history. Measured: the swap transaction's hold on the live tracking row
and table (rebuild_swap_block_ms), failed commands, and the slowest read.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid

import structlog
from argon2 import PasswordHasher

from bench import generate
from bench.databases import Databases, admin_url
from bench.harness import Metrics
from skill_ledger.domain import Actor, Role
from skill_ledger.readside.bluegreen import SwapStats
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL, Settings

WRITERS = 2
KEYS = (
    "rebuild_swap_block_ms",
    "rebuild_swap_caught_up_events",
    "rebuild_under_load_commands",
    "rebuild_under_load_failed_commands",
    "rebuild_under_load_read_max_ms",
)


def under_load(url: DatabaseURL, rebuilder: Services) -> tuple[SwapStats, Metrics]:
    """Rebuild with `rebuilder` while commands and reads run through a live Services."""
    live = Services.open(
        Settings(database=url), hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    try:
        suffix = uuid.uuid4().hex[:8]
        instructor = live.accounts.add_user(
            f"bench-{suffix}@academy.test", "bench", Role.INSTRUCTOR, "bench-password-1"
        )
        actor = Actor(instructor.id, Role.INSTRUCTOR)
        student = f"bench-student-{suffix}@academy.test"
        live.accounts.add_user(student, "student", Role.STUDENT, "bench-password-1")
        license_id = live.accounts.add_license(student)
        live.start_projector()
        stop = threading.Event()
        done = [0]
        failed: list[str] = []
        reads: list[float] = []

        def write(index: int) -> None:
            points = 0
            while not stop.is_set():
                points = (points + 1) % 11
                try:
                    live.assessments.assess(
                        actor, license_id, DEFAULT_SKILLS[index], points, 10, ""
                    )
                    done[0] += 1
                except Exception as e:
                    failed.append(f"{type(e).__name__}: {e}")

        def read() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                live.readmodel.history(license_id, DEFAULT_SKILLS[0])
                reads.append(time.perf_counter() - started)
                stop.wait(0.002)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        threads.append(threading.Thread(target=read))
        for thread in threads:
            thread.start()
        try:
            stats = rebuilder.projector.rebuild()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert isinstance(stats, SwapStats), "PostgreSQL rebuilds blue-green"
        return stats, {
            "rebuild_swap_block_ms": round(stats.swap_ms, 1),
            "rebuild_swap_caught_up_events": stats.caught_up,
            "rebuild_under_load_commands": done[0],
            "rebuild_under_load_failed_commands": len(failed),
            "rebuild_under_load_read_max_ms": round(max(reads, default=0.0) * 1000, 1),
        }
    finally:
        live.close()


def main() -> None:
    """`python -m bench.swap [EVENTS]`: a blue-green rebuild of generated events under load."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    databases = Databases(admin_url())
    try:
        with databases.fresh("swap") as url:
            loaded = generate.load(url, generate.Generator(max(events // 20, 100)), events)
            print(f"generated {loaded.events:,} events", flush=True)
            services = Services.open(Settings(database=url))
            try:
                services.projector.catch_up()
                for run in (1, 2):
                    stats, figures = under_load(url, services)
                    print(
                        f"run {run}: {stats.events:,} events, {stats.rows:,} rows in "
                        f"{stats.seconds:.1f} s, {stats.caught_up} caught up; {figures}",
                        flush=True,
                    )
            finally:
                services.close()
    finally:
        databases.close()


if __name__ == "__main__":
    main()

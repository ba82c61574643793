"""Speed of `ledger audit` export, checkpoint and verify on a PostgreSQL ledger of N events.

The ledger is generated in-process: the domain's own commands (assess, validate, replace,
archive) on 20 % of N pairs produce real chained events, which are mapped by the application's
TypedMapper and COPY'd into ledger_events in interleaved order; the read table is then built by
`Projector.rebuild`. So every hash and row is what the running system would have written.

    .venv/bin/python bench/audit_speed.py [--events 100000] [--keep]
    .venv/bin/python bench/audit_speed.py --database ledger_bench_audit_XXXX   # a kept one

Needs the test server (LEDGER_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432); creates and
drops its own database. Prints events/s for each operation and writes bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from skill_ledger import migrate as schema
from skill_ledger.audit.auditor import Audit
from skill_ledger.cli.common import paused_gc
from skill_ledger.domain import Actor, Role, SkillRecord
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL, Settings

ADMIN_URL = os.environ.get(
    "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
INSTRUCTOR = Actor(2, Role.INSTRUCTOR)
ADMIN = Actor(1, Role.ADMIN)
EVENTS_PER_PAIR = 5  # assess, validate, replace (archive + assess), archive
RESULTS = Path(__file__).parent / "results" / "audit.json"
T = TypeVar("T")


def lifecycle(record: SkillRecord, step: int) -> None:
    """One command of a pair's life; together they make EVENTS_PER_PAIR events."""
    if step == 0:
        record.assess(INSTRUCTOR, 6, 10, "first look", True, uuid.uuid4())
    elif step == 1:
        assert record.active is not None
        record.validate(ADMIN, record.active.id)
    elif step == 2:
        record.assess(INSTRUCTOR, 8, 10, "much better", False, uuid.uuid4())
    else:
        assert record.active is not None
        record.archive(ADMIN, record.active.id, "license transferred")


def generate(services: Services, events: int) -> int:
    """Write about `events` real events, streams interleaved, and project them."""
    mapper = services.ledger.mapper
    pairs = max(1, events // EVENTS_PER_PAIR)
    skills = DEFAULT_SKILLS
    records = [
        SkillRecord.start(1000 + i // len(skills), skills[i % len(skills)]) for i in range(pairs)
    ]
    written = 0
    with (
        psycopg.connect(services.db.url.conninfo()) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY ledger_events (originator_id, originator_version, topic, state) FROM STDIN"
        ) as copy,
    ):
        for step in range(4):
            for record in records:
                lifecycle(record, step)
                for event in record.collect_events():
                    stored = mapper.to_stored_event(event)
                    copy.write_row(
                        (
                            stored.originator_id,
                            stored.originator_version,
                            stored.topic,
                            stored.state,
                        )
                    )
                    written += 1
    services.projector.rebuild()
    return written


def timed(label: str, events: int, action: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """Wall and client CPU time of one run (the machine may be shared: both are reported)."""
    started, cpu = time.perf_counter(), time.process_time()
    with paused_gc():  # as `ledger audit` runs it
        result = action()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = events / seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"{label:<20} {events:>8} events {seconds:6.2f} s {rate:>9,.0f} events/s "
        f"(client CPU {cpu:5.2f} s, peak RSS {peak} MB, load {os.getloadavg()[0]:.1f})"
    )
    return result, {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_second": round(rate),
        "client_cpu_seconds": round(cpu, 3),
        "peak_rss_mb": peak,
    }


def measure(services: Services, events: int) -> dict[str, Any]:
    """Export (JSONL, CSV), checkpoint and verify, in that order (peak RSS only grows)."""
    audit = Audit(services.db, services.eventlog)
    results: dict[str, Any] = {}
    with Path(os.devnull).open("wb") as sink:
        _, results["export_jsonl"] = timed("export jsonl", events, lambda: audit.export(sink))
        _, results["export_csv"] = timed("export csv", events, lambda: audit.export(sink, "csv"))
    checkpoint, results["checkpoint"] = timed("checkpoint", events, audit.checkpoint)
    report, results["verify"] = timed(
        "verify + checkpoint", events, lambda: audit.verify(checkpoint)
    )
    assert report.ok, report.findings[:5]
    print(f"verify: clean; {report.streams} streams, {report.rows_compared} read-table rows")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--database", help="Measure an existing (kept) database; peak RSS is then audit only."
    )
    args = parser.parse_args()

    admin = DatabaseURL.parse(ADMIN_URL)
    name = args.database or f"ledger_bench_audit_{uuid.uuid4().hex[:8]}"
    if not args.database:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.with_dbname(name)
    try:
        schema.upgrade(url)
        services = Services.open(Settings(database=url))
        try:
            if args.database:
                with services.db.transaction(write=False) as cursor:
                    events = services.eventlog.count(cursor)
            else:
                started = time.perf_counter()
                events = generate(services, args.events)
                print(
                    f"generated and projected {events} events in "
                    f"{time.perf_counter() - started:.1f} s ({name})"
                )
            results = {"database": name, **measure(services, events)}
        finally:
            services.close()
    finally:
        if not (args.keep or args.database):
            with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

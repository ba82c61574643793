"""rebuild: Projector.rebuild over a generated ledger vs the library's per-event ProjectionRunner.

One database: the generator loads the ledger; the library's ProjectionRunner projects a prefix
of it into football_skill_assessments with the live projector's own SQL (select_by_ids,
write_rows), one transaction per event, as the library's runner is built to; then the
ledger's rebuild runs twice: over the runner's few rows (almost an empty table) and, after
VACUUM, replacing the full table, which is what `ledger projection rebuild` usually does.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.rows import tuple_row

from bench import generate
from bench.harness import Context, Metrics, Step
from skill_ledger.application import APPLICATION_NAME, Ledger
from skill_ledger.domain import SkillRecord, fold
from skill_ledger.readmodel import TABLE, select_by_ids, write_rows
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL, Settings

RUNNER_TIMEOUT_SECONDS = 900


class RunnerLedger(Ledger):
    """The ledger as ProjectionRunner builds it: from an environment only."""

    name = APPLICATION_NAME

    def __init__(self, env: Any = None) -> None:
        settings = Settings(database=DatabaseURL.parse(env["BENCH_LEDGER_URL"]))
        super().__init__(settings, directory=None)  # type: ignore[arg-type]  # only reads the log


class RowView(PostgresTrackingRecorder):
    """The read table as a library tracking recorder: row and tracking in one transaction."""

    def project(self, event: Any, tracking: Tracking) -> None:
        """Fold one event into its row, exactly as the live projector's batches do."""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            if isinstance(event, SkillRecord.Validated | SkillRecord.Archived):
                rows = select_by_ids(cursor, [event.assessment_id], is_postgres=True)
            else:
                rows = {}
            fold(rows, [event])
            write_rows(cursor, rows.values())
            self._insert_tracking(cursor, tracking)  # type: ignore[arg-type]


class RowProjection(Projection[RowView]):
    """Every event of the ledger, one at a time."""

    name = "runner"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        """Project it (tracking advances for every event)."""
        self.view.project(domain_event, tracking)


def runner_events_per_second(url: DatabaseURL, events: int) -> float:
    """Start a ProjectionRunner at position 0; its rate from the warm-up position to `events`."""
    env = {
        "BENCH_LEDGER_URL": url.url(),
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.dbname,
        "POSTGRES_HOST": url.host,
        "POSTGRES_PORT": str(url.port),
        "POSTGRES_USER": url.user,
        "POSTGRES_PASSWORD": url.password,
    }
    warm_up = min(500, events // 10)
    deadline = time.monotonic() + RUNNER_TIMEOUT_SECONDS
    with ProjectionRunner(
        application_class=RunnerLedger,
        projection_class=RowProjection,
        view_class=RowView,
        env=env,
    ) as runner:
        started = _tracked(runner, warm_up, deadline)
        finished = _tracked(runner, events, deadline)
    return (events - warm_up) / (finished - started)


def _tracked(runner: ProjectionRunner[Any, RowView], position: int, deadline: float) -> float:
    """When the runner's tracking reached `position` (polled every 10 ms)."""
    while (runner.view.max_tracking_id(APPLICATION_NAME) or 0) < position:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the ProjectionRunner did not reach position {position}")
        runner.run_forever(timeout=0.01)  # sleeps, and re-raises the runner's error
    return time.perf_counter()


def run(context: Context) -> Metrics:
    """Generate, run the library's runner on a prefix, then rebuild twice."""
    sizes = context.sizes
    metrics: Metrics = {}
    with context.databases.fresh("rebuild") as url:
        context.say(
            f"generating {sizes.rebuild_events:,} events over {sizes.rebuild_pairs:,} pairs"
        )
        history = generate.load(url, sizes.rebuild_events, sizes.rebuild_pairs)
        metrics["generated_events"] = history.events
        metrics["generate_seconds"] = round(history.seconds, 1)
        context.say(
            f"generated {history.events:,} events ({history.commands:,} commands, "
            f"{history.pairs:,} pairs) in {history.seconds:.1f} s"
        )
        runner_rate = runner_events_per_second(url, sizes.runner_events)
        metrics["runner_events"] = sizes.runner_events
        metrics["runner_events_per_s"] = round(runner_rate, 1)
        context.say(f"library ProjectionRunner: {runner_rate:,.0f} events/s")
        services = Services.open(Settings(database=url))
        try:
            empty = services.projector.rebuild()
            context.say(
                f"rebuild into an almost empty table: {empty.events_per_second:,.0f} events/s "
                f"({empty.rows:,} rows in {empty.seconds:.1f} s)"
            )
            with psycopg.connect(url.conninfo(), autocommit=True) as conn:
                conn.execute(f"VACUUM ANALYZE {TABLE}")
            full = services.projector.rebuild()
            context.say(
                f"rebuild replacing the full table: {full.events_per_second:,.0f} events/s "
                f"({full.rows:,} rows in {full.seconds:.1f} s)"
            )
        finally:
            services.close()
    metrics.update(
        {
            "rebuild_events": full.events,
            "rebuild_rows": full.rows,
            "rebuild_seconds": round(full.seconds, 2),
            "rebuild_events_per_s": round(full.events_per_second, 1),
            "rebuild_empty_events_per_s": round(empty.events_per_second, 1),
        }
    )
    context.notes["rebuild"] = (
        f"Projector.rebuild (what `ledger projection rebuild` runs) over {full.events:,} "
        f"generated events; rebuild_events_per_s replaces a full, vacuumed table, "
        f"rebuild_empty_events_per_s fills an almost empty one. The library's ProjectionRunner "
        f"projected the first {sizes.runner_events:,} events of the same ledger."
    )
    return metrics


STEP = Step(
    name="rebuild",
    title="rebuild: Projector.rebuild vs the library's per-event ProjectionRunner",
    keys=(
        "generated_events",
        "generate_seconds",
        "runner_events",
        "runner_events_per_s",
        "rebuild_events",
        "rebuild_rows",
        "rebuild_seconds",
        "rebuild_empty_events_per_s",
        "rebuild_events_per_s",
    ),
    run=run,
)

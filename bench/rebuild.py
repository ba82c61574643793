"""rebuild: Projector.rebuild over a generated ledger vs the library's per-event ProjectionRunner.

One database and one generated history: its first events are loaded and the library's
ProjectionRunner projects them into football_skill_assessments with the live projector's own
fold and SQL (apply_events), one transaction per event, as the library's runner works;
then the rest is loaded and the ledger's rebuild runs twice: over the ledger as loaded (the
read table holds only the runner's rows) and again, replacing the full table.
"""

from __future__ import annotations

import time
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.rows import tuple_row

from bench import generate, swap, tree
from bench.harness import Context, Metrics, Step
from bench.library import library_env
from skill_ledger.application import APPLICATION_NAME, Ledger
from skill_ledger.database import open_database
from skill_ledger.database.postgres import PostgresDatabase
from skill_ledger.readside.apply import apply_events
from skill_ledger.readside.table import TABLE
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL, Settings

RUNNER_TIMEOUT_SECONDS = 900


class RunnerLedger(Ledger):
    """The ledger as ProjectionRunner builds it: from an environment only."""

    name = APPLICATION_NAME

    def __init__(self, env: Any) -> None:
        settings = Settings(database=DatabaseURL.parse(env["BENCH_LEDGER_URL"]))
        # The runner reads notifications while its view writes: a pool of one starves it.
        store = open_database(settings.database, pool_size=1).eventstore_env(4)
        super().__init__(settings, directory=None, store=store)  # type: ignore[arg-type]


class RowView(PostgresTrackingRecorder):
    """The read table as a library tracking recorder: row and tracking in one transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The projector's SQL needs the backend's dialect only; this pool is never opened.
        self.dialect = PostgresDatabase(
            DatabaseURL.parse("postgresql://unused@127.0.0.1/unused"),
            pool_size=1,
            connect_timeout=1,
            durable=True,
            name="bench-dialect",
            breaker=None,
        )

    def project(self, event: Any, tracking: Tracking) -> None:
        """Fold one event into its row, exactly as the live projector's batches do."""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            apply_events(cursor, self.dialect, tracking.notification_id - 1, [event])
            self._insert_tracking(cursor, tracking)  # type: ignore[arg-type]


class RowProjection(Projection[RowView]):
    """Every event of the ledger, one at a time."""

    name = "runner"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        """Project it (tracking advances for every event)."""
        self.view.project(domain_event, tracking)


def runner_events_per_second(url: DatabaseURL, events: int) -> float:
    """Start a ProjectionRunner at position 0; its rate from the warm-up position to `events`."""
    env = {"BENCH_LEDGER_URL": url.url(), **library_env(url, threads=5)}
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
    """Load a prefix and time the library's runner on it, load the rest, rebuild twice."""
    sizes = context.sizes
    metrics: Metrics = {}
    databases = context.databases
    with databases.fresh("rebuild") as url:
        generator = generate.Generator(sizes.rebuild_pairs)
        prefix = generate.load(url, generator, sizes.runner_events)
        databases.settle(url, "ledger_events")
        runner_rate = runner_events_per_second(url, sizes.runner_events)
        metrics["runner_events"] = sizes.runner_events
        metrics["runner_events_per_s"] = round(runner_rate, 1)
        context.say(
            f"library ProjectionRunner over the first {sizes.runner_events:,} events: "
            f"{runner_rate:,.0f} events/s"
        )
        rest = generate.load(url, generator, sizes.rebuild_events - sizes.runner_events)
        databases.settle(url, "ledger_events", TABLE)
        metrics["generated_events"] = prefix.events + rest.events
        metrics["generate_seconds"] = round(prefix.seconds + rest.seconds, 1)
        context.say(
            f"generated {prefix.events + rest.events:,} events ({generator.commands:,} commands "
            f"on {len(generator.records):,} pairs) in {prefix.seconds + rest.seconds:.1f} s"
        )
        services = Services.open(Settings(database=url))
        try:
            first = services.projector.rebuild()
            context.say(
                f"rebuild over the runner's prefix rows: {first.events_per_second:,.0f} events/s "
                f"({first.rows:,} rows in {first.seconds:.1f} s)"
            )
            databases.settle(url, TABLE)
            again, under_load = swap.under_load(url, services)
            metrics.update(under_load)
            context.say(
                f"rebuild replacing the full table under write load: "
                f"{again.events_per_second:,.0f} events/s ({again.rows:,} rows in "
                f"{again.seconds:.1f} s); swap blocked {again.swap_ms:.1f} ms, "
                f"{under_load['rebuild_under_load_commands']} commands "
                f"({under_load['rebuild_under_load_failed_commands']} failed), slowest read "
                f"{under_load['rebuild_under_load_read_max_ms']} ms"
            )
        finally:
            services.close()
        # The swap under load wrote events and a new table: their writes are not the tree's.
        databases.settle(url, "ledger_events", TABLE)
        metrics.update(tree.build_apart(url))
        context.say(
            f"Merkle tree of {metrics['tree_events']:,} events built in "
            f"{metrics['tree_build_seconds']} s: {metrics['tree_build_events_per_s']:,.0f} events/s"
        )
        databases.settle(url, "log_tree_nodes")
        metrics.update(inclusion_at(context, url, metrics))
        context.say(
            f"inclusion proofs through the API at {metrics['tree_events']:,} leaves: p50 "
            f"{metrics['tree_inclusion_p50_ms']} ms, p99 {metrics['tree_inclusion_p99_ms']} ms"
        )
    metrics.update(
        {
            "rebuild_events": first.events,
            "rebuild_rows": first.rows,
            "rebuild_seconds": round(first.seconds, 2),
            "rebuild_events_per_s": round(first.events_per_second, 1),
            "rebuild_replace_seconds": round(again.seconds, 2),
            "rebuild_replace_events_per_s": round(again.events_per_second, 1),
        }
    )
    context.notes["rebuild"] = (
        f"Projector.rebuild (what `ledger projection rebuild` runs) over {first.events:,} "
        "generated events: rebuild_events_per_s on the ledger as loaded (its read table holds "
        f"only the runner's rows for the first {sizes.runner_events:,} events), "
        "rebuild_replace_events_per_s run again to replace the full, vacuumed table while a live "
        "projector, two assess clients and a history reader run (blue-green: the swap's hold on "
        "the live table is rebuild_swap_block_ms). The "
        "library's ProjectionRunner projected those first events before the rest was loaded. "
        "Then `ledger audit tree rebuild`'s code builds the Merkle tree over the same log "
        "(tree_build_events_per_s), and one client times GET /api/v1/log/inclusion at that "
        "tree size through `ledger serve --no-projector` (one worker, production settings)."
    )
    return metrics


def inclusion_at(context: Context, url: DatabaseURL, metrics: Metrics) -> Metrics:
    """Inclusion-proof latency through the API on the tree just built."""
    size = metrics["tree_events"]
    assert isinstance(size, int)
    return tree.inclusion(context, url, size)


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
        "rebuild_events_per_s",
        "rebuild_replace_seconds",
        "rebuild_replace_events_per_s",
        *swap.KEYS,
        *tree.KEYS,
    ),
    run=run,
)

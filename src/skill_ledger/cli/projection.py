"""`ledger project` and `ledger projection`: run, rebuild and inspect the read table's projector."""

from __future__ import annotations

import dataclasses
import threading
from typing import Annotated

import structlog
import typer
from prometheus_client import start_http_server

from skill_ledger.cli.common import (
    EXIT_USAGE,
    err,
    fail,
    load_settings,
    opened_services,
    out,
    progress,
)
from skill_ledger.metrics import PrometheusObserver, register_database_gauges
from skill_ledger.readside.bluegreen import SwapStats
from skill_ledger.readside.projector import REMEDY
from skill_ledger.services import check_signing_key
from skill_ledger.settings import PROJECTOR_SHARE, ConfigurationError

app = typer.Typer(
    help="The football_skill_assessments projection, and the account tables.",
    no_args_is_help=True,
)
log = structlog.get_logger("skill_ledger.cli")


def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up, then exit.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics (projection delay, lag, leading) on this port."
        ),
    ] = None,
    no_tree: Annotated[
        bool, typer.Option("--no-tree", help="Keep no Merkle tree here (another process does).")
    ] = False,
) -> None:
    """Run the projector as its own process (follows the log until interrupted)."""
    observer = PrometheusObserver() if metrics_port is not None else None
    settings = dataclasses.replace(load_settings(), connection_share=PROJECTOR_SHARE)
    if not no_tree:
        try:
            check_signing_key(settings)
        except ConfigurationError as e:
            fail(str(e), EXIT_USAGE)
    with opened_services(settings, observer=observer) as services:
        if metrics_port is not None:
            register_database_gauges(services)
            start_http_server(metrics_port, addr="127.0.0.1")
        if once:
            try:
                count = services.projector.catch_up()
            except Exception:
                stall = services.projector.stall
                if stall is None:
                    raise
                fail(f"stalled at position {stall.position}: {stall.reason}; run `{REMEDY}`")
            out.print(f"projected {count} events; position {services.projector.watch.position}")
            if not no_tree:
                err.print(f"appended {services.tree.catch_up()} events to the log's Merkle tree")
            return
        stop = threading.Event()
        if not no_tree:
            services.start_tree_keeper()
        log.info("projector_started", projection=services.projector.name, tree=not no_tree)
        try:
            services.projector.run(stop)
        except KeyboardInterrupt:
            stop.set()


@app.command("rebuild")
def rebuild() -> None:
    """Rebuild football_skill_assessments from the first event, with progress.

    On PostgreSQL the new table is filled beside the live one while the projector and the API
    keep serving, then swapped in by one short transaction; on SQLite it is rebuilt in place.
    """
    with opened_services() as services, progress("rebuilding", transient=False) as on_progress:
        stats = services.projector.rebuild(on_progress)
    swapped = (
        f"; swapped in after catching up {stats.caught_up} events, "
        f"blocking readers and the projector {stats.swap_ms:.1f} ms"
        if isinstance(stats, SwapStats)
        else ""
    )
    out.print(
        f"rebuilt {stats.rows} rows from {stats.events} events in {stats.seconds:.2f} s "
        f"({stats.events_per_second:,.0f} events/s); position {stats.position}{swapped}"
    )


@app.command("rebuild-accounts")
def rebuild_accounts() -> None:
    """Rewrite users and licenses from the ledger's account events, keeping password hashes."""
    with opened_services() as services:
        done = services.accounts.rebuild_tables()
    out.print(
        f"rebuilt {done.rows} account rows from {done.events} events in {done.seconds:.2f} s: "
        f"{len(done.updated)} corrected, {len(done.restored)} restored, "
        f"{len(done.deleted)} deleted",
        highlight=False,
    )
    for row in done.updated:
        out.print(f"corrected {row}", highlight=False)
    for row in done.restored:
        note = ": it has no password; run `ledger users reset-password`" if "users" in row else ""
        out.print(f"restored {row}{note}", highlight=False)
    for row in done.deleted:
        out.print(f"deleted {row}: no event of the ledger gives it", highlight=False)


@app.command("status")
def status() -> None:
    """Print the projection's position, the log's head and the lag."""
    with opened_services() as services:
        now = services.projector.status()
    out.print(f"position {now.position}  head {now.head}  lag {now.lag_events} events")
    if now.stall is not None:
        fail(f"stalled at position {now.stall.position}: {now.stall.reason}; run `{REMEDY}`")

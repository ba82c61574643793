"""`python -m bench [--quick] [--only STEP]`: run the benchmarks, print a table, write JSON."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import FrameType

import structlog
from rich.console import Console

from bench import harness, http, library, limit, login_flood, rebuild, streams
from bench.databases import Databases, admin_url

STEPS = [limit.STEP, library.STEP, http.STEP, login_flood.STEP, rebuild.STEP, streams.STEP]


def _terminate(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Parse arguments, run the steps, always drop the databases."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument(
        "--only", action="append", choices=[step.name for step in STEPS], help="run only STEP"
    )
    parser.add_argument(
        "--output", type=Path, default=harness.RESULTS_DIR / "latest.json", help="JSON file"
    )
    args = parser.parse_args()
    # The ledger logs every command; a benchmark wants the figures, not a log line per command.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    sizes = harness.QUICK if args.quick else harness.FULL
    steps = [step for step in STEPS if not args.only or step.name in args.only]
    try:
        harness.check_tools(steps)
    except harness.CannotRun as e:
        console.print(f"[red]{e}[/]", highlight=False)
        raise SystemExit(2) from None
    databases = Databases(admin_url())
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the databases are dropped either way.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        results = harness.run(steps, sizes, console, databases)
    finally:
        databases.close()
    console.print(harness.table(results, steps))
    harness.write(results, args.output, complete=len(steps) == len(STEPS))
    console.print(f"wrote {args.output}")
    problems = harness.unmet_promises(results)
    if problems:
        console.print("[red]the run is incomplete:[/]\n  " + "\n  ".join(problems), highlight=False)
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""The benchmark run: sizes, steps, derived ratios, targets, machine facts, table and JSON."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.databases import Databases

Metric = float | int | None
Metrics = dict[str, Metric]
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each step runs: `full` for the figures, `quick` for a smoke run under a minute."""

    mode: str
    pgbench_seconds: int
    pgbench_streams: int
    library_seconds: float
    rebuild_events: int
    rebuild_pairs: int
    runner_events: int
    long_stream_events: int
    latency_samples: int


FULL = Sizes(
    mode="full",
    pgbench_seconds=15,
    pgbench_streams=2_000,
    library_seconds=10.0,
    rebuild_events=1_000_000,
    rebuild_pairs=50_000,
    runner_events=20_000,
    long_stream_events=1_000,
    latency_samples=400,
)
QUICK = Sizes(
    mode="quick",
    pgbench_seconds=2,
    pgbench_streams=500,
    library_seconds=2.0,
    rebuild_events=50_000,
    rebuild_pairs=2_500,
    runner_events=1_500,
    long_stream_events=1_000,
    latency_samples=60,
)


@dataclass
class Context:
    """What a step gets: the sizes, fresh databases on the benchmark server, and the console."""

    sizes: Sizes
    databases: Databases
    console: Console
    notes: dict[str, str] = field(default_factory=dict)

    def say(self, message: str) -> None:
        """A progress line."""
        self.console.print(f"  [dim]{message}[/]", highlight=False)


@dataclass(frozen=True, slots=True)
class Step:
    """One part of the run: measures and returns metrics by key (None when not measured)."""

    name: str
    title: str
    keys: tuple[str, ...]
    run: Callable[[Context], Metrics]
    tools: tuple[tuple[str, str], ...] = ()
    """(program, Debian package) the step cannot run without."""


class CannotRun(Exception):
    """A step's tool is missing: the run stops before measuring anything, naming the package."""


def check_tools(steps: list[Step]) -> None:
    """Refuse to start when a selected step's program is missing (the package to install)."""
    missing = {
        (program, package, step.name)
        for step in steps
        for program, package in step.tools
        if shutil.which(program) is None
    }
    if missing:
        lines = [
            f"  {program} (step {name}): apt-get install {package}"
            for program, package, name in sorted(missing)
        ]
        raise CannotRun("missing programs, install them first:\n" + "\n".join(lines))


@dataclass(frozen=True, slots=True)
class Target:
    """A goal from the issue."""

    key: str
    op: str
    bound: float

    def met(self, value: Metric) -> bool | None:
        """True/False, or None when the metric was not measured."""
        if value is None:
            return None
        if self.op == ">=":
            return value >= self.bound
        if self.op == "<=":
            return value <= self.bound
        return value < self.bound

    def describe(self) -> str:
        """'≥ 40' and so on."""
        symbol = {">=": "≥", "<=": "≤", "<": "<"}[self.op]
        return f"{symbol} {self.bound:,g}"


TARGETS = {
    target.key: target
    for target in (
        Target("p1_http_vs_pgbench_lock", ">=", 0.6),
        Target("single_client_latency_ratio", "<=", 2.5),
        Target("cpu_ms_per_command", "<=", 1.0),
        Target("bulk_vs_pgbench_lock", ">=", 2.0),
        Target("pg_backends_max", "<=", 40),
        Target("p99_ms_half_load", "<", 25),
        Target("lag_p99_ms", "<", 50),
        Target("login_flood_auth_p99_ms", "<", 50),
        Target("rebuild_events_per_s", ">=", 50_000),
        Target("rebuild_vs_runner", ">=", 40),
        Target("rebuild_swap_block_ms", "<=", 100),
        Target("long_stream_ratio", "<=", 2),
        Target("tree_inclusion_p99_ms", "<=", 5),
        Target("tree_build_events_per_s", ">=", 100_000),
        Target("tree_overhead_ratio", "<=", 0.05),
    )
}

# Figures measured while planning (issue 6), on this kind of machine: orientation, not targets.
BASELINES: dict[str, str] = {
    "pgbench_lock_tps_1": "1.3–1.4k",
    "pgbench_nolock_tps_1": "1.3–1.4k",
    "pgbench_lock_tps_16": "1.2–1.5k",
    "pgbench_nolock_tps_16": "~4k",
    "library_save_per_s_1": "~740",
    "library_save_per_s_16": "~930 (8 threads)",
    "runner_events_per_s": "~1,250",
}


DERIVED: dict[str, tuple[str, str]] = {
    "p1_http_vs_pgbench_lock": ("http_assess_per_s_16", "pgbench_lock_tps_16"),
    "single_client_latency_ratio": ("http_p50_ms_1", "pgbench_lock_latency_ms_1"),
    "bulk_vs_pgbench_lock": ("bulk_events_per_s", "pgbench_lock_tps_16"),
    "rebuild_vs_runner": ("rebuild_events_per_s", "runner_events_per_s"),
}
"""Ratios across steps: key → (numerator, denominator)."""


def derive(metrics: Metrics) -> Metrics:
    """Ratios across steps."""

    def ratio(numerator: str, denominator: str) -> Metric:
        top, bottom = metrics.get(numerator), metrics.get(denominator)
        if top is None or not bottom:
            return None
        return round(top / bottom, 3)

    return {key: ratio(*sources) for key, sources in DERIVED.items()}


def measurable(steps: list[Step]) -> set[str]:
    """The keys these steps measure, and the ratios whose both sides they measure."""
    keys = {key for step in steps for key in step.keys}
    return keys | {key for key, sources in DERIVED.items() if set(sources) <= keys}


def unmet_promises(results: Mapping[str, Any]) -> list[str]:
    """Why the run failed: steps that raised, targets left without a figure."""
    problems = [
        f"step {name} failed: {timing['error']}"
        for name, timing in results["run"]["steps"].items()
        if timing["error"]
    ]
    problems += [
        f"target {key} has no figure"
        for key, target in results["targets"].items()
        if target["value"] is None
    ]
    return problems


def _run_text(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine(databases: Databases) -> dict[str, Any]:
    """Facts that explain the figures: CPU, memory, load, versions, commit."""
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        memory_gib = round(int(first[1]) / 1024 / 1024, 1)
    root = Path(__file__).resolve().parents[1]
    packages = ("eventsourcing", "psycopg", "msgspec", "litestar", "uvicorn")
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": sys.version.split()[0],
        "postgresql": databases.server_version(),
        "pgbench": _run_text("pgbench", "--version"),
        "packages": {name: _version(name) for name in packages},
        "git_commit": _run_text("git", "-C", str(root), "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_run_text("git", "-C", str(root), "status", "--porcelain", "src")),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other processes make the figures noisy)."""
    return [round(value, 2) for value in os.getloadavg()]


def fsync_rate(seconds: float = 0.3) -> int:
    """8 KiB writes + fdatasync per second on this disk: commit-bound figures follow it."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    block = b"\0" * 8192
    with tempfile.NamedTemporaryFile(dir=RESULTS_DIR, prefix=".fsync-") as probe:
        count = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            probe.write(block)
            probe.flush()
            os.fdatasync(probe.fileno())
            count += 1
    return round(count / seconds)


def now() -> str:
    """UTC, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def run(steps: list[Step], sizes: Sizes, console: Console, databases: Databases) -> dict[str, Any]:
    """Run the steps in order; a failing step records its error and the run goes on (and fails
    at the end: `unmet_promises`)."""
    context = Context(sizes=sizes, databases=databases, console=console)
    metrics: Metrics = {}
    timings: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    started_at = now()
    facts = machine(databases)
    for step in steps:
        load_before = load_average()
        fsync_before = fsync_rate()
        console.print(
            f"[bold]{step.title}[/] [dim](load {load_before[0]}, {fsync_before:,} fsync/s)[/]"
        )
        step_started = time.perf_counter()
        error = None
        try:
            found = step.run(context)
        except Exception as e:  # report a failed step and keep measuring the others
            error = f"{type(e).__name__}: {e}"
            console.print(f"  [red]failed:[/] {error}", highlight=False)
            console.print(traceback.format_exc(), style="dim", highlight=False)
            found = {}
        metrics.update({key: found.get(key) for key in step.keys})
        timings[step.name] = {
            "seconds": round(time.perf_counter() - step_started, 1),
            "load_before": load_before,
            "load_after": load_average(),
            "fsync_per_s_before": fsync_before,
            "error": error,
        }
    metrics.update(derive(metrics))
    return {
        **metrics,
        # Only the targets this run's steps measure: a partial run (--only) names no others.
        "targets": {
            key: {
                "target": target.describe(),
                "value": metrics.get(key),
                "met": target.met(metrics.get(key)),
            }
            for key, target in TARGETS.items()
            if key in measurable(steps)
        },
        "run": {
            "mode": sizes.mode,
            "started_at": started_at,
            "finished_at": now(),
            "seconds": round(time.perf_counter() - started, 1),
            "sizes": asdict(sizes),
            "steps": timings,
            "notes": context.notes,
        },
        "machine": facts,
    }


def write(results: Mapping[str, Any], path: Path, *, complete: bool) -> None:
    """The JSON file; a complete run is also copied to quick.json or full.json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text)
    if complete:
        path.with_name(f"{results['run']['mode']}.json").write_text(text)


def _format(value: Metric) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def table(results: Mapping[str, Any], steps: list[Step]) -> Table:
    """Every metric with its target and planning baseline."""
    run = results["run"]
    grid = Table(
        title=f"skill-ledger benchmarks ({run['mode']}, {run['started_at']}, {run['seconds']} s)",
        title_justify="left",
    )
    for column in ("step", "metric", "value", "target", "planning baseline"):
        grid.add_column(column, justify="right" if column == "value" else "left")
    derived = {
        "p1_http_vs_pgbench_lock": "http",
        "single_client_latency_ratio": "http",
        "bulk_vs_pgbench_lock": "http",
        "rebuild_vs_runner": "rebuild",
    }
    for step in steps:
        keys = list(step.keys) + [key for key, owner in derived.items() if owner == step.name]
        for index, key in enumerate(keys):
            target = TARGETS.get(key) if key in results["targets"] else None
            met = target.met(results.get(key)) if target else None
            mark = {True: "[green]✓ met[/]", False: "[red]✗ missed[/]", None: ""}[met]
            described = f"{target.describe()} {mark}" if target else ""
            grid.add_row(
                step.name if index == 0 else "",
                key,
                _format(results.get(key)),
                described,
                BASELINES.get(key, ""),
                end_section=index == len(keys) - 1,
            )
    return grid

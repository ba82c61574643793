"""The load generator: one wrk run of a Lua script and what it measured."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "wrk" / "mixed.lua"
SESSIONS_SCRIPT = SCRIPT.with_name("sessions.lua")
WRK_THREADS = 2


@dataclass(frozen=True, slots=True)
class WrkRun:
    """What one wrk run measured."""

    rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    requests: int
    statuses: dict[str, int]
    loadgen_cpu_percent: float


def wrk(
    base: str,
    env: dict[str, str],
    connections: int,
    seconds: float,
    delay_ms: float = 0,
    script: Path = SCRIPT,
    threads: int = WRK_THREADS,
) -> WrkRun:
    """One wrk run of a Lua script: rate, latency percentiles, statuses, wrk's own CPU."""
    threads = min(threads, connections)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        env={**env, "LEDGER_WRK_THREADS": str(threads), "DELAY_MS": f"{delay_ms:.3f}"},
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK_JSON "))
    data: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    ok = sum(count for status, count in data["statuses"].items() if status.startswith("2"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkRun(
        rate=round(data["requests"] / (data["duration_us"] / 1e6), 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p95_ms=round(data["p95_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        non_2xx=data["requests"] - ok,
        requests=data["requests"],
        statuses=data["statuses"],
        loadgen_cpu_percent=round(100 * cpu / elapsed, 1),
    )

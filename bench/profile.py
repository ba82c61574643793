"""`python -m bench.profile`: where the API workers' CPU goes under 16 wrk clients (py-spy).

Starts the benchmark's server topology on a fresh database, drives the mixed workload (or the
50-item sessions with --sessions), samples every API worker with py-spy for the same seconds
and prints the share of samples by layer, the CPU per request and the rate. See
docs/benchmarks.md (Profiling) for the figures before and after each change.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import http, loadgen
from bench.databases import Databases, admin_url
from bench.probes import cpu_seconds, process_tree

# First match wins: the innermost frame of a sample names its layer.
LAYERS = (
    ("logging", ("structlog", "logging/", "skill_ledger/logs.py")),
    ("metrics", ("prometheus_client", "prometheus/", "skill_ledger/metrics.py")),
    ("database driver", ("psycopg",)),
    ("eventsourcing", ("eventsourcing/",)),
    ("command", ("skill_ledger/",)),
    ("json, validation", ("msgspec",)),
    ("jwt", ("jwt/", "joserfc", "cryptography")),
    ("litestar", ("litestar/",)),
    ("uvicorn, asyncio", ("uvicorn/", "h11", "httptools", "asyncio/", "anyio/")),
    ("threads", ("threading.py", "concurrent/")),
)


def layer_of(stack: str) -> str:
    """The layer of a sample's innermost frame that belongs to a known layer."""
    for frame in reversed(stack.split(";")):
        for name, needles in LAYERS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def summarize(raw: Path) -> dict[str, float]:
    """Share of GIL-holding samples by layer (py-spy's raw collapsed format)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[layer_of(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {name: round(100 * n / total, 1) for name, n in counts.most_common()}


def main() -> None:
    """Start, load, sample, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sessions", action="store_true", help="50-item sessions instead")
    args = parser.parse_args()
    databases = Databases(admin_url())
    try:
        with databases.fresh("profile") as url:
            instructors, admin = http._seed(url)
            log_path = Path(tempfile.gettempdir()) / f"ledger-profile-{url.dbname}.log"
            server = http.Server(url, 2, log_path, True)
            try:
                env = {
                    **os.environ,
                    "LEDGER_INSTRUCTOR_TOKENS": ",".join(server.token(e) for e in instructors),
                    "LEDGER_ADMIN_TOKEN": server.token(admin),
                    "LEDGER_LICENSES": str(http.LICENSES),
                    "LEDGER_SKILLS": ",".join(http.SKILLS),
                    "LEDGER_SESSION_ITEMS": str(http.SESSION_ITEMS),
                }
                script = loadgen.SESSIONS_SCRIPT if args.sessions else loadgen.SCRIPT
                threads = 16 if args.sessions else loadgen.WRK_THREADS
                loadgen.wrk(server.base, env, 16, 2.0, script=script, threads=threads)
                workers = [p for p in process_tree(server.process.pid) if p != server.process.pid]
                spy = Path(tempfile.mkdtemp(prefix="ledger-profile-"))
                spies = [
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(round(args.seconds)),
                            "--format",
                            "raw",
                            "--nonblocking",
                            "--gil",  # only the thread holding the GIL: where Python's CPU goes
                            "-o",
                            str(spy / f"{pid}.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for pid in workers
                ]
                api = [*workers, server.process.pid]
                before = cpu_seconds(api)
                run = loadgen.wrk(
                    server.base, env, 16, args.seconds, script=script, threads=threads
                )
                used = cpu_seconds(api) - before
                for process in spies:
                    process.wait()
            finally:
                server.stop()
    finally:
        databases.close()
    print(f"{run.rate:,.1f} requests/s, p50 {run.p50_ms} ms, statuses {run.statuses}")
    print(f"API CPU: {1000 * used / max(run.requests, 1):.2f} ms per request")
    merged = spy / "all.txt"
    merged.write_text("".join(p.read_text() for p in spy.glob("*.txt") if p != merged))
    for name, share in summarize(merged).items():
        print(f"  {name:<18} {share:5.1f} %")
    print(f"raw stacks: {merged}")


if __name__ == "__main__":
    main()

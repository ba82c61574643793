"""limit: PostgreSQL's own rate for a command's transaction, measured with pgbench."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import psycopg

from bench.harness import Context, Metrics, Step
from skill_ledger.settings import DatabaseURL

SCRIPTS = Path(__file__).resolve().parent / "pgbench"
TOPIC = "skill_ledger.domain:SkillRecord.Assessed"
CLIENTS = (1, 16)
TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)
FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


def pgbench(url: DatabaseURL, script: Path, clients: int, seconds: int, streams: int) -> Metrics:
    """One pgbench run: tps and average latency (ms)."""
    command = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--file={script}",
        f"--client={clients}",
        f"--jobs={min(clients, os.cpu_count() or 1)}",
        f"--time={seconds}",
        f"--define=streams={streams}",
        f"--define=topic={TOPIC}",
        f"--host={url.host}",
        f"--port={url.port}",
        f"--username={url.user}",
        url.dbname,
    ]
    env = {**os.environ, "PGPASSWORD": url.password} if url.password else None
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    tps, latency = TPS.search(done.stdout), LATENCY.search(done.stdout)
    failed = FAILED.search(done.stdout)
    if done.returncode != 0 or tps is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench {script.name} -c {clients} failed:\n{done.stderr[-2000:]}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)) if latency else None}


def run(context: Context) -> Metrics:
    """With and without the table lock, at 1 and 16 clients, each on an empty events table."""
    sizes = context.sizes
    metrics: Metrics = {}
    with context.databases.fresh("limit") as url:
        for lock in ("lock", "nolock"):
            for clients in CLIENTS:
                with psycopg.connect(url.conninfo(), autocommit=True) as conn:
                    conn.execute("TRUNCATE ledger_events RESTART IDENTITY")
                found = pgbench(
                    url,
                    SCRIPTS / f"command_{lock}.sql",
                    clients,
                    sizes.pgbench_seconds,
                    sizes.pgbench_streams,
                )
                metrics[f"pgbench_{lock}_tps_{clients}"] = round(found["tps"] or 0, 1)
                metrics[f"pgbench_{lock}_latency_ms_{clients}"] = found["latency_ms"]
                context.say(
                    f"{lock:>6}, {clients:>2} clients: {found['tps']:,.0f} tps, "
                    f"{found['latency_ms']} ms average"
                )
    context.notes["limit"] = (
        f"pgbench -M prepared, {sizes.pgbench_seconds} s per run, each client on its own "
        f"{sizes.pgbench_streams} streams, events table emptied before each run"
    )
    return metrics


STEP = Step(
    name="limit",
    title="limit: pgbench, the command's transaction with and without LOCK TABLE",
    keys=tuple(
        f"pgbench_{lock}_{what}_{clients}"
        for lock in ("lock", "nolock")
        for clients in CLIENTS
        for what in ("tps", "latency_ms")
    ),
    run=run,
    tools=(("pgbench", "postgresql-client"),),
)

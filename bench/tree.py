"""The log's Merkle tree on the rebuild step's generated ledger: a full build, then inclusion
proofs through the HTTP API (`ledger serve --no-projector`, one worker) at that size."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.harness import Context, Metrics
from bench.http import PASSWORD, Server
from skill_ledger.accounts import Accounts
from skill_ledger.database import open_database
from skill_ledger.domain import Role
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL, Settings

KEYS = (
    "tree_events",
    "tree_build_seconds",
    "tree_build_events_per_s",
    "tree_inclusion_samples",
    "tree_inclusion_p50_ms",
    "tree_inclusion_p99_ms",
)


def build_apart(url: DatabaseURL) -> Metrics:
    """`build` in a process of its own, as `ledger audit tree rebuild` runs.

    The benchmark's process has run load generators, servers' clients and the library's runner
    by then; their leftover threads and pools would be timed with the build.
    """
    root = Path(__file__).resolve().parents[1]
    code = (
        "import json, sys; from bench import tree; from skill_ledger.settings import DatabaseURL;"
        "print(json.dumps(tree.build(DatabaseURL.parse(sys.argv[1]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url.url()],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    line = [text for text in done.stdout.splitlines() if text.startswith("{")][-1]
    found: Metrics = json.loads(line)
    return found


def build(url: DatabaseURL) -> Metrics:
    """`ledger audit tree rebuild`'s code over the whole log."""
    services = Services.open(Settings(database=url))
    try:
        stats = services.tree.rebuild()
    finally:
        services.close()
    return {
        "tree_events": stats.size,
        "tree_build_seconds": round(stats.seconds, 2),
        "tree_build_events_per_s": round(stats.events_per_second, 1),
    }


def _auditor_and_positions(url: DatabaseURL, samples: int) -> tuple[str, list[int]]:
    db = open_database(url, pool_size=1)
    db.open()
    try:
        email = f"auditor-{uuid.uuid4().hex[:6]}@bench.test"
        Accounts(db).add_user(email, "Auditor", Role.AUDITOR, PASSWORD)
        with db.transaction(write=False) as cursor:
            cursor.execute("SELECT MAX(idx) + 1 FROM log_tree_nodes WHERE level = 0")
            size = int(cursor.fetchone()[0])
            wanted = [random.randrange(size) for _ in range(samples)]
            cursor.execute(
                "SELECT position FROM log_tree_nodes WHERE level = 0 AND idx = ANY(%s)", (wanted,)
            )
            positions = [int(row[0]) for row in cursor.fetchall()]
    finally:
        db.close()
    return email, positions


def inclusion(context: Context, url: DatabaseURL, size: int) -> Metrics:
    """p50/p99 of GET /api/v1/log/inclusion?position=P&tree_size=SIZE, one client, keep-alive."""
    samples = context.sizes.latency_samples
    email, positions = _auditor_and_positions(url, samples)
    log_path = Path(tempfile.gettempdir()) / f"ledger-bench-tree-{url.dbname}.log"
    server = Server(url, 1, log_path, None)
    try:
        headers = {"Authorization": f"Bearer {server.token(email)}"}
        timings: list[float] = []
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
            for warm in positions[:20]:
                client.get("/api/v1/log/inclusion", params={"position": warm, "tree_size": size})
            for position in positions:
                started = time.perf_counter()
                answer = client.get(
                    "/api/v1/log/inclusion", params={"position": position, "tree_size": size}
                )
                timings.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
    finally:
        server.stop()
    timings.sort()
    return {
        "tree_inclusion_samples": len(timings),
        "tree_inclusion_p50_ms": round(statistics.median(timings), 2),
        "tree_inclusion_p99_ms": round(timings[min(len(timings) - 1, int(0.99 * len(timings)))], 2),
    }

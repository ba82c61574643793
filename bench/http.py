"""ours: HTTP assess throughput, latency and projection lag against a real `ledger serve`.

The load generator is wrk (C, event-driven, two threads) with a Lua script of the mixed workload
(bench/wrk/mixed.lua: ≈70 % new or changed points, 20 % identical repeats, 10 % validate). It
costs a fraction of the server's CPU per request, so it does not starve the server on this
2-core machine; its own CPU use is measured and reported (bench/loadgen.py). Without wrk the
run does not start (the harness names the package). Then 16 connections post 50-item sessions
(bench/wrk/sessions.lua); the API processes' CPU and the database's backends are watched from
outside (bench/probes.py).

Topology as compose.yaml runs it: `ledger serve --workers 2 --no-projector` and one
`ledger project` (LEDGER_BENCH_WORKERS, LEDGER_BENCH_PROJECTOR=inprocess to change it).

Runs: 1 connection (the single-client rate), 16 connections (throughput and latency), then 16
connections paced to about half the 16-connection rate (p99 at half load). Projection lag is the
server's own histogram (event time → its read-table row committed), read from /metrics before
and after the half-load run.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from bench.harness import Context, Metrics, Step
from bench.loadgen import SESSIONS_SCRIPT, WRK_THREADS, WrkRun, wrk
from bench.probes import BackendSampler, cpu_seconds, process_tree
from skill_ledger.accounts import Accounts
from skill_ledger.audit.signing import SigningKey
from skill_ledger.database import open_database
from skill_ledger.domain import Role
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL

KEYS = (
    "http_assess_per_s_1",
    "http_p50_ms_1",
    "http_assess_per_s_16",
    "http_p50_ms",
    "http_p95_ms",
    "http_p99_ms",
    "http_half_load_per_s",
    "p50_ms_half_load",
    "p99_ms_half_load",
    "lag_p50_ms",
    "lag_p99_ms",
    "http_non_2xx_percent",
    "loadgen_cpu_percent",
    "server_workers",
    "cpu_ms_per_command",
    "pg_backends_max",
    "bulk_sessions_per_s",
    "bulk_p50_ms",
    "bulk_events_per_s",
    "tree_http_with_per_s",
    "tree_http_without_per_s",
    "tree_overhead_ratio",
)
SESSION_ITEMS = 50
SECRET = "benchmark-secret-benchmark-secret-0123456789"
PASSWORD = "benchmark password"
LICENSES = 400
INSTRUCTORS = 16
SKILLS = DEFAULT_SKILLS[:8]
LAG_METRIC = "ledger_projection_delay_seconds_bucket"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed(url: DatabaseURL) -> tuple[list[str], str]:
    """Instructors, an admin, a student with LICENSES licenses; returns their emails."""
    db = open_database(url, pool_size=2)
    db.open()
    try:
        accounts = Accounts(db)
        suffix = uuid.uuid4().hex[:6]
        instructors = [
            accounts.add_user(
                f"coach{n}-{suffix}@bench.test", f"Coach {n}", Role.INSTRUCTOR, PASSWORD
            ).email
            for n in range(INSTRUCTORS)
        ]
        admin = accounts.add_user(f"admin-{suffix}@bench.test", "Admin", Role.ADMIN, PASSWORD).email
        student = accounts.add_user(f"student-{suffix}@bench.test", "S", Role.STUDENT, PASSWORD)
        for _ in range(LICENSES):  # each issued in the ledger, like any license
            accounts.issue_license(student.id)
        return instructors, admin
    finally:
        db.close()


def signing_key_file(folder: str) -> str:
    """A fresh signing key in `folder` (production processes that sign need one)."""
    path = Path(folder) / "signing.key"
    path.write_text(SigningKey.generate("bench.invalid/ledger").text() + "\n")
    path.chmod(0o600)
    return str(path)


class Server:
    """`ledger serve` in production mode on a benchmark database (and `ledger project`).

    `separate`: API workers without a projector plus one `ledger project` (None: no projector
    at all); `tree`: whether that projector keeps the log's Merkle tree; `extra_env` for both.
    """

    def __init__(
        self,
        url: DatabaseURL,
        workers: int,
        log_path: Path,
        separate: bool | None,
        *,
        tree: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = tempfile.mkdtemp(prefix="ledger-bench-metrics-")
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": url.url(),
            "LEDGER_ENV": "production",
            "LEDGER_JWT_SECRET": SECRET,
            "LEDGER_LOGIN_RATE_PER_MINUTE": "100000",
            "LEDGER_SKILLS": ",".join(DEFAULT_SKILLS),
            "LEDGER_CONNECTION_BUDGET": os.environ.get("LEDGER_BENCH_CONNECTION_BUDGET", "40"),
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
            "LEDGER_SIGNING_KEY_FILE": signing_key_file(self.metrics_dir),
            **(extra_env or {}),
        }
        ledger = str(Path(sys.executable).parent / "ledger")
        self.log = log_path.open("wb")
        serve = [ledger, "serve", "--port", str(self.port), "--workers", str(workers)]
        # As compose.yaml runs it: API workers without a projector, one projector process.
        self.projector_metrics = f"http://127.0.0.1:{_free_port()}"
        project = [ledger, "project", "--metrics-port", self.projector_metrics.rsplit(":", 1)[1]]
        self.projector = (
            subprocess.Popen(
                project if tree else [*project, "--no-tree"],
                env=env,
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            if separate
            else None
        )
        self.process = subprocess.Popen(
            [*serve, "--no-projector"] if separate is not False else serve,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"ledger serve did not start (see {log_path})")

    def token(self, email: str) -> str:
        """A bearer token."""
        response = httpx.post(
            f"{self.base}/api/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def lag_buckets(self) -> dict[float, float]:
        """Cumulative counts of the projection-delay histogram by upper bound (seconds).

        Read from the process that projects: `ledger project --metrics-port`, or the API's
        /metrics when its workers project themselves.
        """
        source = self.projector_metrics if self.projector is not None else f"{self.base}/metrics"
        text = httpx.get(source, timeout=30).text
        buckets: dict[float, float] = {}
        for match in re.finditer(rf'^{LAG_METRIC}\{{le="([^"]+)"\}} (\S+)$', text, re.MULTILINE):
            bound = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
            buckets[bound] = buckets.get(bound, 0.0) + float(match.group(2))
        return buckets

    def stop(self) -> None:
        """Terminate the server, its workers and the projector."""
        for process in (self.process, self.projector):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log.close()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def _percentile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile (ms) of the observations between two scrapes, interpolated in buckets."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return round(lower_bound * 1000, 2)
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return round((lower_bound + share * (bound - lower_bound)) * 1000, 2)
        lower_bound, lower_count = bound, count
    return None


def run(context: Context) -> Metrics:
    """Start the server, drive the three wrk runs, read the projection lag."""
    seconds = 12.0 if context.sizes.mode == "full" else 2.0
    workers = int(os.environ.get("LEDGER_BENCH_WORKERS", "2"))
    separate = os.environ.get("LEDGER_BENCH_PROJECTOR", "separate") != "inprocess"
    with context.databases.fresh("http") as url:
        instructors, admin = _seed(url)
        log_path = Path(tempfile.gettempdir()) / f"ledger-bench-serve-{url.dbname}.log"
        server = Server(url, workers, log_path, separate)
        try:
            env = {
                **os.environ,
                "LEDGER_INSTRUCTOR_TOKENS": ",".join(server.token(e) for e in instructors),
                "LEDGER_ADMIN_TOKEN": server.token(admin),
                "LEDGER_LICENSES": str(LICENSES),
                "LEDGER_SKILLS": ",".join(SKILLS),
            }
            wrk(server.base, env, 16, 1.0 if context.sizes.mode == "quick" else 3.0)  # warm-up
            single = wrk(server.base, env, 1, seconds)
            context.say(f"1 client: {single.rate:,.0f}/s, p50 {single.p50_ms} ms")
            api = process_tree(server.process.pid)
            cpu_before = cpu_seconds(api)
            with BackendSampler(url) as backends:
                full = wrk(server.base, env, 16, seconds)
            cpu_ms = 1000 * (cpu_seconds(api) - cpu_before) / max(full.requests, 1)
            context.say(
                f"16 clients: {full.rate:,.0f}/s, p50 {full.p50_ms} ms, p99 {full.p99_ms} ms, "
                f"statuses {full.statuses}, wrk CPU {full.loadgen_cpu_percent} %"
            )
            # Each connection waits between requests so that 16 of them offer ~half the rate.
            delay_ms = max(0.0, 16 * 1000 / (full.rate / 2) - single.p50_ms)
            lag_before = server.lag_buckets()
            half = wrk(server.base, env, 16, seconds, delay_ms)
            lag_after = server.lag_buckets()
            context.say(
                f"half load: {half.rate:,.0f}/s (pause {delay_ms:.1f} ms), p99 {half.p99_ms} ms"
            )
            context.say(f"API CPU {cpu_ms:.2f} ms per command, {backends.most} backends at most")
            bulk, bulk_events = _sessions(url, server.base, env, seconds, backends)
            context.say(
                f"16 clients × {SESSION_ITEMS}-item sessions: {bulk.rate:,.1f} sessions/s, "
                f"{bulk_events:,.0f} events/s, p50 {bulk.p50_ms} ms, statuses {bulk.statuses}"
            )
        finally:
            server.stop()
        if separate:
            # Fresh servers in the order without, with, with, without: a drift of the machine
            # over the four runs falls on both sides alike.
            rates: dict[bool, list[float]] = {False: [], True: []}
            for tree in (False, True, True, False):
                rates[tree].append(_sixteen(url, workers, log_path, seconds, env, tree=tree).rate)
            with_tree = sum(rates[True]) / 2
            without_tree = sum(rates[False]) / 2
            context.say(
                "16 clients without the Merkle tree: "
                f"{' and '.join(f'{r:,.0f}/s' for r in rates[False])}; with it: "
                f"{' and '.join(f'{r:,.0f}/s' for r in rates[True])}"
            )
    context.notes["http"] = (
        f"wrk {WRK_THREADS} threads, mixed.lua, {seconds:.0f} s per run, "
        f"ledger serve --workers {workers}"
        f"{' --no-projector + ledger project' if separate else ' (projector in-process)'}, "
        f"server log {log_path}"
    )
    total = full.requests or 1
    return {
        "http_assess_per_s_1": single.rate,
        "http_p50_ms_1": single.p50_ms,
        "http_assess_per_s_16": full.rate,
        "http_p50_ms": full.p50_ms,
        "http_p95_ms": full.p95_ms,
        "http_p99_ms": full.p99_ms,
        "http_half_load_per_s": half.rate,
        "p50_ms_half_load": half.p50_ms,
        "p99_ms_half_load": half.p99_ms,
        "lag_p50_ms": _percentile(lag_before, lag_after, 0.50),
        "lag_p99_ms": _percentile(lag_before, lag_after, 0.99),
        "http_non_2xx_percent": round(100 * full.non_2xx / total, 2),
        "loadgen_cpu_percent": full.loadgen_cpu_percent,
        "server_workers": workers,
        "cpu_ms_per_command": round(cpu_ms, 3),
        "pg_backends_max": backends.most,
        "bulk_sessions_per_s": bulk.rate,
        "bulk_p50_ms": bulk.p50_ms,
        "bulk_events_per_s": round(bulk_events, 1),
        "tree_http_with_per_s": round(with_tree, 1) if separate else None,
        "tree_http_without_per_s": round(without_tree, 1) if separate else None,
        "tree_overhead_ratio": (
            round(1 - with_tree / without_tree, 3) if separate and without_tree else None
        ),
    }


def _log_head(url: DatabaseURL) -> int:
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events").fetchone()
    return int(row[0]) if row else 0


def _sessions(
    url: DatabaseURL, base: str, env: dict[str, str], seconds: float, backends: BackendSampler
) -> tuple[WrkRun, float]:
    """16 connections posting 50-item sessions: the run and the events recorded per second."""
    env = {**env, "LEDGER_SESSION_ITEMS": str(SESSION_ITEMS)}
    # One wrk thread per connection: each grades its own squads, as instructors do.
    wrk(base, env, 16, 1.0, script=SESSIONS_SCRIPT, threads=16)  # warm-up
    head = _log_head(url)
    started = time.perf_counter()
    with BackendSampler(url) as during:
        run = wrk(base, env, 16, seconds, script=SESSIONS_SCRIPT, threads=16)
    elapsed = time.perf_counter() - started
    backends.most = max(backends.most, during.most)
    return run, (_log_head(url) - head) / elapsed


def _sixteen(
    url: DatabaseURL,
    workers: int,
    log_path: Path,
    seconds: float,
    env: dict[str, str],
    *,
    tree: bool,
) -> WrkRun:
    """One 16-connection run on a server started afresh, with or without the Merkle tree."""
    server = Server(url, workers, log_path.with_suffix(f".tree-{tree}.log"), True, tree=tree)
    try:
        # The new server signs tokens with the same secret: the old tokens stay valid.
        wrk(server.base, env, 16, 1.0)
        return wrk(server.base, env, 16, seconds)
    finally:
        server.stop()


STEP = Step(
    name="http",
    title="ours: HTTP assess (wrk, mixed workload) and 50-item sessions",
    keys=KEYS,
    run=run,
    tools=(("wrk", "wrk"),),
)

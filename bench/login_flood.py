"""ours: an authenticated GET's latency while 100 connections flood the login route.

Each argon2 check costs a fraction of a second of CPU: unchecked, a flood of bad logins takes
the whole thread pool and CPU, and every other request waits behind it. The ledger caps the
password checks each API process runs at once (LEDGER_LOGIN_CONCURRENCY) and refuses the rest
with 503 and Retry-After at once. This step measures what that leaves for everyone else.

Topology as compose.yaml runs it (`ledger serve --workers 2 --no-projector`, one `ledger
project`), production settings, the per-address login limit raised out of the way (the flood
stands for many addresses) and every bad login for a new email (no account limit applies).
wrk keeps 100 connections posting bad logins; a Python probe sends one authenticated history
GET every 20 ms, first on the idle server, then during each flood:

- `login_flood_auth_p99_ms` — each connection sends a bad login about once a second (~100
  logins/s offered); the cap checks what it can and refuses the rest;
- `login_flood_uncapped_p99_ms` — the same flood with 40 slots per process (what bounded
  the checks before the cap: anyio's worker threads);
- `login_flood_unpaced_p99_ms` — each connection re-sends at once, whatever the answer: a
  plain request flood of thousands of refusals a second, which only the per-address limit or
  the proxy in front can shed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import Context, Metrics, Step
from bench.http import Server, _seed
from skill_ledger.settings import DatabaseURL

KEYS = (
    "login_flood_idle_p50_ms",
    "login_flood_idle_p99_ms",
    "login_flood_auth_p50_ms",
    "login_flood_auth_p99_ms",
    "login_flood_p99_ratio",
    "login_flood_checked_per_s",
    "login_flood_refused_per_s",
    "login_flood_uncapped_p99_ms",
    "login_flood_uncapped_checked_per_s",
    "login_flood_unpaced_p99_ms",
    "login_flood_unpaced_refused_per_s",
    "login_flood_probe_non_200",
)
SCRIPT = Path(__file__).resolve().parent / "wrk" / "login_flood.lua"
CONNECTIONS = 100
PROBE_PAUSE_S = 0.02
WARM_UP_S = 1.5
UNCAPPED = "40"  # anyio's worker threads per process: what bounded the checks before the cap
LOGIN_SERIES = re.compile(
    r'^ledger_http_requests_total\{[^}]*path="/api/v1/auth/login"[^}]*'
    r'status_code="(\d+)"[^}]*\} (\S+)$',
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Probe:
    """The probe's GET latencies (ms), its non-200 answers and the login answers meanwhile."""

    latencies: list[float]
    failures: int
    logins: dict[str, float]

    def quantile(self, q: float) -> float:
        """The q-quantile of the latencies (ms)."""
        ordered = sorted(self.latencies)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    def per_second(self, status: str, seconds: float) -> float:
        """Login answers of this status per second."""
        return round(self.logins.get(status, 0.0) / seconds, 1)


def _probe(base: str, token: str, seconds: float) -> tuple[list[float], int]:
    """Authenticated GETs, one every PROBE_PAUSE_S: latencies (ms) and non-200 answers."""
    latencies: list[float] = []
    failures = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = client.get("/api/v1/licenses/1/skills/passing/assessments", headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            failures += response.status_code != 200
            time.sleep(PROBE_PAUSE_S)
    return latencies, failures


def _login_answers(base: str) -> dict[str, float]:
    """Login answers so far by status code, summed over the workers."""
    counts: dict[str, float] = {}
    for status, value in LOGIN_SERIES.findall(httpx.get(f"{base}/metrics", timeout=60).text):
        counts[status] = counts.get(status, 0.0) + float(value)
    return counts


def _flooded(server: Server, token: str, seconds: float, pace: str) -> Probe:
    """Probe while wrk floods the login route."""
    before = _login_answers(server.base)
    flood = subprocess.Popen(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{round(seconds + WARM_UP_S) + 2}s",
            "--timeout",
            "30s",
            "-s",
            str(SCRIPT),
            server.base,
        ],
        env={**os.environ, "PACE": pace},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(WARM_UP_S)  # the flood is in full swing before the probe starts
        latencies, failures = _probe(server.base, token, seconds)
        after = _login_answers(server.base)
    finally:
        flood.wait(timeout=seconds + 120)
    logins = {status: after[status] - before.get(status, 0.0) for status in after}
    return Probe(latencies, failures, logins)


def _server(context: Context, url: DatabaseURL, name: str, env: dict[str, str]) -> Server:
    workers = int(os.environ.get("LEDGER_BENCH_WORKERS", "2"))
    log_path = Path(tempfile.gettempdir()) / f"ledger-bench-login-{name}-{url.dbname}.log"
    context.notes[f"login_{name}"] = f"ledger serve --workers {workers}, log {log_path}"
    return Server(url, workers, log_path, separate=True, extra_env=env)


def run(context: Context) -> Metrics:
    """Probe the idle server, then during the paced, uncapped and unpaced floods."""
    seconds = 15.0 if context.sizes.mode == "full" else 4.0
    probes: dict[str, Probe] = {}
    with context.databases.fresh("login") as url:
        instructors, _ = _seed(url)
        for name, env, pace in (
            ("capped", {}, "second"),
            ("uncapped", {"LEDGER_LOGIN_CONCURRENCY": UNCAPPED}, "second"),
            ("unpaced", {}, "none"),
        ):
            server = _server(context, url, name, env)
            try:
                token = server.token(instructors[0])
                _probe(server.base, token, 1.0)  # warm-up: pools, the token's user lookup
                if name == "capped":
                    idle, idle_failures = _probe(server.base, token, seconds)
                    probes["idle"] = Probe(idle, idle_failures, {})
                probes[name] = _flooded(server, token, seconds, pace)
            finally:
                server.stop()
            found = probes[name]
            context.say(
                f"{name}: p50 {found.quantile(0.5)} ms, p99 {found.quantile(0.99)} ms "
                f"({len(found.latencies)} GETs); logins {found.logins}"
            )
    idle_p99 = probes["idle"].quantile(0.99)
    capped = probes["capped"]
    context.notes["login"] = (
        f"wrk -t2 -c{CONNECTIONS} login_flood.lua, probe GET every {PROBE_PAUSE_S * 1000:.0f} ms "
        f"for {seconds:.0f} s, idle p99 {idle_p99} ms"
    )
    return {
        "login_flood_idle_p50_ms": probes["idle"].quantile(0.5),
        "login_flood_idle_p99_ms": idle_p99,
        "login_flood_auth_p50_ms": capped.quantile(0.5),
        "login_flood_auth_p99_ms": capped.quantile(0.99),
        "login_flood_p99_ratio": round(capped.quantile(0.99) / idle_p99, 2) if idle_p99 else None,
        "login_flood_checked_per_s": capped.per_second("401", seconds),
        "login_flood_refused_per_s": capped.per_second("503", seconds),
        "login_flood_uncapped_p99_ms": probes["uncapped"].quantile(0.99),
        "login_flood_uncapped_checked_per_s": probes["uncapped"].per_second("401", seconds),
        "login_flood_unpaced_p99_ms": probes["unpaced"].quantile(0.99),
        "login_flood_unpaced_refused_per_s": probes["unpaced"].per_second("503", seconds),
        "login_flood_probe_non_200": sum(probe.failures for probe in probes.values()),
    }


STEP = Step(
    name="login",
    title="ours: authenticated GET latency during a login flood (wrk, 100 connections)",
    keys=KEYS,
    run=run,
    tools=(("wrk", "wrk"),),
)

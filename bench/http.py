"""ours: HTTP assess throughput, latency and projection lag against a real `ledger serve`.

Not measured yet: this step is a placeholder that reports every key as null. To plug the
workload in, make `run` start `ledger serve` on a fresh database (context.databases), drive
the mixed workload (≈70 % new or changed points, 20 % identical repeats, 10 % validate) at 1
and 16 concurrent clients from a load generator that does not starve the server, and return
the keys below. The harness derives p1_http_vs_pgbench_lock from http_assess_per_s_16.
"""

from __future__ import annotations

from bench.harness import Context, Metrics, Step

KEYS = (
    "http_assess_per_s_1",
    "http_assess_per_s_16",
    "http_p50_ms",
    "http_p95_ms",
    "http_p99_ms",
    "p99_ms_half_load",
    "lag_p50_ms",
    "lag_p99_ms",
    "loadgen_cpu_percent",
)


def run(context: Context) -> Metrics:
    """Placeholder: every key null until the HTTP workload lands."""
    context.say("not measured yet (placeholder until the HTTP workload lands)")
    context.notes["http"] = "placeholder: the HTTP workload is not implemented yet"
    return dict.fromkeys(KEYS)


STEP = Step(name="http", title="ours: HTTP assess (placeholder)", keys=KEYS, run=run)

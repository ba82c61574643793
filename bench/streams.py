"""long streams: Ledger.assess latency on a stream of ~1,000 events vs on a fresh stream."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

from argon2 import PasswordHasher

from bench.harness import Context, Metrics, Step
from skill_ledger.domain import Actor, Outcome, Role
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, Settings

LONG_SKILL = "passing"
PASSWORD = "benchmark password"


def _ms(samples: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return round(statistics.median(ordered) * 1000, 3), round(p95 * 1000, 3)


def _timed(command: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    command(*args)
    return time.perf_counter() - started


def latencies(services: Services, sizes_samples: int, long_events: int) -> Metrics:
    """Alternate a replacement on the long stream with a first assessment on a fresh pair."""
    ledger = services.ledger
    suffix = uuid.uuid4().hex[:8]
    accounts = services.accounts
    user = accounts.add_user(f"coach-{suffix}@bench.test", "coach", Role.INSTRUCTOR, PASSWORD)
    coach = Actor(user.id, Role.INSTRUCTOR)
    accounts.add_user(f"student-{suffix}@bench.test", "student", Role.STUDENT, PASSWORD)
    licenses_needed = 1 + sizes_samples // len(DEFAULT_SKILLS) + 1
    licenses = [
        services.accounts.add_license(f"student-{suffix}@bench.test")
        for _ in range(licenses_needed)
    ]
    long_license, fresh_licenses = licenses[0], licenses[1:]
    points = 0
    while ledger.record(long_license, LONG_SKILL).version < long_events:
        points = 1 - points
        ledger.assess(coach, long_license, LONG_SKILL, points, 10)
    built = ledger.record(long_license, LONG_SKILL).version
    fresh_pairs = iter(
        [(license_id, skill) for license_id in fresh_licenses for skill in DEFAULT_SKILLS]
    )
    long_samples: list[float] = []
    fresh_samples: list[float] = []
    for _ in range(sizes_samples):
        points = 1 - points
        long_samples.append(_timed(ledger.assess, coach, long_license, LONG_SKILL, points, 10))
        license_id, skill = next(fresh_pairs)
        fresh_samples.append(_timed(ledger.assess, coach, license_id, skill, 5, 10))
    outcome = ledger.assess(coach, long_license, LONG_SKILL, 1 - points, 10).outcome
    assert outcome is Outcome.REPLACED, outcome
    long_median, long_p95 = _ms(long_samples)
    fresh_median, fresh_p95 = _ms(fresh_samples)
    return {
        "long_stream_events": built,
        "fresh_assess_ms": fresh_median,
        "fresh_assess_p95_ms": fresh_p95,
        "long_stream_assess_ms": long_median,
        "long_stream_assess_p95_ms": long_p95,
        "long_stream_ratio": round(long_median / fresh_median, 3),
    }


def run(context: Context) -> Metrics:
    """In-process Ledger.assess with the default settings (snapshots every 50 events)."""
    sizes = context.sizes
    metrics: Metrics = {}
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with context.databases.fresh("streams") as url:
        settings = Settings(database=url)
        services = Services.open(settings, hasher=cheap)
        try:
            found = latencies(services, sizes.latency_samples, sizes.long_stream_events)
        finally:
            services.close()
        metrics.update(found)
        context.say(
            f"assess on a {found['long_stream_events']}-event stream: "
            f"{found['long_stream_assess_ms']} ms median; on a fresh stream: "
            f"{found['fresh_assess_ms']} ms; ratio {found['long_stream_ratio']}"
        )
        # Without the aggregate cache every command loads the latest snapshot and replays
        # the events after it: the cost a process pays for streams it has not seen.
        services = Services.open(settings, hasher=cheap)
        services.ledger.repository.cache = None
        try:
            cold = latencies(services, sizes.latency_samples, sizes.long_stream_events)
        finally:
            services.close()
        metrics.update(
            {
                "fresh_assess_cold_ms": cold["fresh_assess_ms"],
                "long_stream_assess_cold_ms": cold["long_stream_assess_ms"],
                "long_stream_ratio_cold": cold["long_stream_ratio"],
            }
        )
        context.say(
            f"without the aggregate cache: {cold['long_stream_assess_ms']} ms vs "
            f"{cold['fresh_assess_ms']} ms; ratio {cold['long_stream_ratio']}"
        )
    context.notes["streams"] = (
        f"median of {sizes.latency_samples} in-process Ledger.assess calls each: a replacement "
        "(2 events) on the long stream alternating with a first assessment (1 event) on a "
        "fresh pair; projector not running; default settings (snapshot every 50 events, "
        "aggregate cache on); *_cold_* with the cache off"
    )
    return metrics


STEP = Step(
    name="streams",
    title="long streams: command latency on a ~1,000-event stream vs a fresh one",
    keys=(
        "long_stream_events",
        "fresh_assess_ms",
        "fresh_assess_p95_ms",
        "long_stream_assess_ms",
        "long_stream_assess_p95_ms",
        "long_stream_ratio",
        "fresh_assess_cold_ms",
        "long_stream_assess_cold_ms",
        "long_stream_ratio_cold",
    ),
    run=run,
)

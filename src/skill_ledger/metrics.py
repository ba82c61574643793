"""Prometheus metrics: command outcomes and durations; gauges read from the database at scrape."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skill_ledger.readside import reports
from skill_ledger.services import Services

COMMANDS = Counter(
    "ledger_commands_total",
    "Commands by outcome (created, replaced, identical, validated, archived, unchanged)",
    ["command", "outcome"],
)
CONFLICTS = Counter(
    "ledger_command_conflicts_total",
    "Version conflicts that made a command load and decide again",
    ["command"],
)
REJECTED = Counter(
    "ledger_commands_rejected_total",
    "Commands refused, by the named error (LicenseNotFound, InvalidTransition, …)",
    ["command", "reason"],
)
DURATION = Histogram(
    "ledger_command_duration_seconds",
    "Time from loading the stream to the commit of its events",
    ["command"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH = Histogram(
    "ledger_commit_batch_commands",
    "Commands per event-store transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
# HTTP, as Litestar's Prometheus middleware named them (labels sorted: the exposition's order).
HTTP_LABELS = ["app_name", "method", "path", "status_code"]
HTTP_REQUESTS = Counter("ledger_http_requests_total", "Total requests", HTTP_LABELS)
HTTP_ERRORS = Counter("ledger_http_requests_error_total", "Total errors in requests", HTTP_LABELS)
HTTP_DURATION = Histogram(
    "ledger_http_request_duration_seconds", "Request duration, in seconds", HTTP_LABELS
)
HTTP_IN_PROGRESS = Gauge(
    "ledger_http_requests_in_progress",
    "Total requests currently in progress",
    ["app_name", "method", "path"],
    multiprocess_mode="livesum",
)
APP_NAME = "ledger"


def observe_request(method: str, path: str, status: int, seconds: float) -> None:
    """One answered request: counted, timed, and counted again as an error when 5xx."""
    labels = (APP_NAME, method, path, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_DURATION.labels(*labels).observe(seconds)
    if status >= 500:  # server errors only: a 499 is the client's doing
        HTTP_ERRORS.labels(*labels).inc()


def requests_in_progress(method: str, path: str) -> Gauge:
    """The in-progress gauge of one route."""
    return HTTP_IN_PROGRESS.labels(APP_NAME, method, path)


SNAPSHOT_FAILURES = Counter(
    "ledger_snapshot_failures_total",
    "Snapshots that could not be saved (best effort: their commands were recorded)",
)
PROJECTION_FAILURES = Counter(
    "ledger_projection_failures_total",
    "Projector batches that failed to apply an event (a stall retries every few seconds)",
)
READS = Counter(
    "ledger_reads_total",
    "Reads by the database that served them (a replica or primary) and why: caught_up, "
    "lagging (a replica had not replayed past the token in time), down, no_replica",
    ["target", "outcome"],
)
PROJECTION_DELAY = Histogram(
    "ledger_projection_delay_seconds",
    "From an event's time (its command's decision) to the commit of its read-table row",
    buckets=(
        0.001,
        0.002,
        0.003,
        0.005,
        0.0075,
        0.01,
        0.015,
        0.02,
        0.03,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
        10.0,
    ),
)


class PrometheusObserver:
    """Counts what the ledger's commands do."""

    def completed(self, command: str, outcome: str, seconds: float) -> None:
        """A command finished."""
        COMMANDS.labels(command, outcome).inc()
        DURATION.labels(command).observe(seconds)

    def conflicted(self, command: str) -> None:
        """A command lost a race and decides again."""
        CONFLICTS.labels(command).inc()

    def rejected(self, command: str, reason: str) -> None:
        """A command was refused."""
        REJECTED.labels(command, reason).inc()

    def committed(self, commands: int) -> None:
        """One event-store transaction carried this many commands."""
        BATCH.observe(commands)

    def projected(self, delays: list[float]) -> None:
        """A projector batch committed; each event's delay from its time to now."""
        for delay in delays:
            PROJECTION_DELAY.observe(delay)

    def snapshot_failed(self) -> None:
        """A snapshot could not be saved."""
        SNAPSHOT_FAILURES.inc()

    def projection_failed(self) -> None:
        """A projector batch failed."""
        PROJECTION_FAILURES.inc()

    def read_routed(self, target: str, outcome: str) -> None:
        """A read ran on a replica or the primary."""
        READS.labels(target, outcome).inc()


class LedgerCollector(Collector):
    """Projection lag, validation backlog and disputes, read from the database at each scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        """Gauges for the projection and the backlog."""
        status = self.services.projector.status(self.services.db)
        lag_seconds = self.services.projector.lag_seconds(status)
        backlog = reports.backlog(self.services.db)
        disputes = reports.disputes(self.services.db)
        yield GaugeMetricFamily(
            "ledger_projection_position", "Last event position projected", value=status.position
        )
        yield GaugeMetricFamily(
            "ledger_event_log_head", "Last event position recorded", value=status.head
        )
        yield GaugeMetricFamily(
            "ledger_projection_lag_events",
            "Events recorded but not yet projected",
            value=status.lag_events,
        )
        yield GaugeMetricFamily(
            "ledger_projector_stalled",
            "1 while the projection cannot apply an event (see /health; `ledger projection "
            "rebuild` repairs it)",
            value=0.0 if status.stall is None else 1.0,
        )
        yield GaugeMetricFamily(
            "ledger_projector_leading",
            "1 while this process's projector holds the lead (0: standing by, or none here)",
            value=1.0 if self.services.projector.leading else 0.0,
        )
        yield GaugeMetricFamily(
            "ledger_projection_lag_seconds",
            "Age of the oldest event not yet projected (0 when caught up)",
            value=lag_seconds,
        )
        yield GaugeMetricFamily(
            "ledger_validation_backlog", "Assessments waiting for validation", value=backlog.pending
        )
        yield GaugeMetricFamily(
            "ledger_validation_backlog_oldest_age_seconds",
            "Age of the oldest assessment waiting for validation (0 when none)",
            value=backlog.oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "ledger_validation_backlog_alert",
            "1 when the backlog passes report_settings' thresholds (> 50 pending or > 48 h)",
            value=1.0 if backlog.alert else 0.0,
        )
        yield GaugeMetricFamily(
            "ledger_open_disputes", "Disputes waiting for an admin", value=disputes.open
        )
        yield GaugeMetricFamily(
            "ledger_open_disputes_oldest_age_seconds",
            "Age of the oldest open dispute (0 when none)",
            value=disputes.oldest_age_seconds,
        )
        resolved = CounterMetricFamily(
            "ledger_disputes",
            "Disputes resolved, by outcome (approve, reject, modify, superseded)",
            labels=["outcome"],
        )
        for outcome, count in disputes.resolved.items():
            resolved.add_metric([outcome], count)
        yield resolved


def register_database_gauges(services: Services) -> None:
    """Serve the database's gauges from the default registry too (`ledger project`'s port)."""
    REGISTRY.register(LedgerCollector(services))


def exposition(services: Services) -> tuple[bytes, str]:
    """The Prometheus text format: this process's (or all workers') metrics plus the database's."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(LedgerCollector(services))
    return body + generate_latest(database), CONTENT_TYPE_LATEST

"""Report queries on the analysts' views (projections/*.sql): rows and column names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from skill_ledger.database import Database, as_optional_time


class ReportError(Exception):
    """Base class of report errors."""


class UnknownReport(ReportError):
    """No report has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No report {name!r}; known: {', '.join(names())}")
        self.name = name


class ReportUnavailable(ReportError):
    """The report's view is missing: the database predates the report migration."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The view {name} does not exist: run `ledger db upgrade`")
        self.name = name


class ReportRefused(ReportError):
    """The database refused the report's query (an analyst login without the grant)."""

    def __init__(self, error: Exception) -> None:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        super().__init__(f"the database refused the query: {detail}")


@dataclass(frozen=True, slots=True)
class Report:
    """One view analysts query: its name, what it says, and how its columns decode."""

    name: str
    description: str
    order_by: str
    flags: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    one_row: bool = False


REPORTS = (
    Report(
        "daily_assessment_rate",
        "Assessments created per UTC day of the report window, with students and instructors.",
        "date DESC",
        dates=("date",),
    ),
    Report(
        "validation_requirement_distribution",
        "Share of the window's assessments that needed an admin's validation.",
        "requires_validation DESC",
        flags=("requires_validation",),
    ),
    Report(
        "state_distribution",
        "Every assessment by current status (ASSESSED, VALIDATED, ARCHIVED), with shares.",
        "count DESC, status",
    ),
    Report(
        "skill_activity",
        "Active assessments of the window per skill: count, average percentage, students.",
        "total_assessments DESC, skill_name",
    ),
    Report(
        "instructor_activity",
        "Assessments of the window per assessor: count, average score, validations needed.",
        "assessments_created DESC, instructor_id",
    ),
    Report(
        "validation_backlog",
        "Assessments waiting for validation: count, oldest, age in hours, alert flag.",
        "pending_validation",
        flags=("alert",),
        times=("oldest_pending", "newest_pending"),
        one_row=True,
    ),
    Report(
        "dispute_rate_by_instructor",
        "Assessments validated in the window per assessor: disputed, rate, needs_training flag.",
        "dispute_rate DESC, instructor_id",
        flags=("needs_training",),
    ),
    Report(
        "dispute_resolution_time",
        "Disputes resolved in the window per outcome: count, median and p90 hours.",
        "outcome",
    ),
    Report(
        "open_disputes",
        "Disputes waiting for an admin: count, oldest, age in hours, alert flag.",
        "open_disputes",
        flags=("alert",),
        times=("oldest_disputed_at",),
        one_row=True,
    ),
)
OUTCOMES = ("approve", "reject", "modify", "superseded")
"""How disputes close (domain.DisputeOutcome), in the order metrics list them."""


@dataclass(frozen=True, slots=True)
class ReportResult:
    """A report's column names and rows (plain Python values, the same on both backends)."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as column → value mappings."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True, slots=True)
class Backlog:
    """The validation backlog, typed (for metrics and health checks)."""

    pending: int
    oldest: datetime | None
    newest: datetime | None
    oldest_age_hours: float | None
    alert_pending_threshold: int
    alert_age_hours_threshold: float
    alert: bool

    @property
    def oldest_age_seconds(self) -> float:
        """Age of the oldest pending assessment in seconds (0 when none waits)."""
        return 0.0 if self.oldest_age_hours is None else self.oldest_age_hours * 3600


@dataclass(frozen=True, slots=True)
class Disputes:
    """Open disputes and resolutions so far, typed (for metrics)."""

    open: int
    oldest_age_hours: float | None
    alert: bool
    resolved: dict[str, int]

    @property
    def oldest_age_seconds(self) -> float:
        """Age of the oldest open dispute in seconds (0 when none is open)."""
        return 0.0 if self.oldest_age_hours is None else self.oldest_age_hours * 3600


def names() -> list[str]:
    """Every report name, in listing order."""
    return [report.name for report in REPORTS]


def find(name: str) -> Report:
    """The report with this name; UnknownReport otherwise."""
    for report in REPORTS:
        if report.name == name:
            return report
    raise UnknownReport(name)


def _decoder(report: Report, column: str) -> Callable[[Any], Any]:
    if column in report.flags:
        return lambda value: None if value is None else bool(value)
    if column in report.dates:
        return lambda value: value if isinstance(value, date | None) else date.fromisoformat(value)
    if column in report.times:
        return as_optional_time
    return lambda value: float(value) if isinstance(value, Decimal) else value


def run(db: Database, name: str) -> ReportResult:
    """Query one report's view; UnknownReport or ReportUnavailable when it cannot."""
    report = find(name)
    try:
        with db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT * FROM {report.name} ORDER BY {report.order_by}")
            columns = tuple(str(column[0]) for column in cursor.description or ())
            raw = cursor.fetchall()
    except (*db.statement_errors, *db.connection_errors) as e:
        if db.is_missing_relation(e):
            raise ReportUnavailable(report.name) from e
        if isinstance(e, db.statement_errors):
            raise ReportRefused(e) from e
        raise
    decoders = [_decoder(report, column) for column in columns]
    rows = [
        tuple(decode(value) for decode, value in zip(decoders, row, strict=True)) for row in raw
    ]
    return ReportResult(report.name, columns, rows)


def backlog(db: Database) -> Backlog:
    """The validation_backlog view as one typed value."""
    result = run(db, "validation_backlog")
    if not result.rows:
        raise ReportError("validation_backlog is empty: report_settings must hold its one row")
    row = result.records()[0]
    age = row["oldest_age_hours"]
    return Backlog(
        pending=int(row["pending_validation"]),
        oldest=row["oldest_pending"],
        newest=row["newest_pending"],
        oldest_age_hours=None if age is None else float(age),
        alert_pending_threshold=int(row["alert_pending_threshold"]),
        alert_age_hours_threshold=float(row["alert_age_hours_threshold"]),
        alert=bool(row["alert"]),
    )


def disputes(db: Database) -> Disputes:
    """The open_disputes view and the resolved disputes by outcome, as one typed value."""
    result = run(db, "open_disputes")
    if not result.rows:
        raise ReportError("open_disputes is empty: report_settings must hold its one row")
    row = result.records()[0]
    with db.transaction(write=False) as cursor:
        cursor.execute(
            "SELECT dispute_outcome, COUNT(*) FROM football_skill_assessments "
            "WHERE disputed_at IS NOT NULL AND dispute_outcome IS NOT NULL "
            "GROUP BY dispute_outcome"
        )
        counted = {str(outcome): int(count) for outcome, count in cursor.fetchall()}
    age = row["oldest_age_hours"]
    return Disputes(
        open=int(row["open_disputes"]),
        oldest_age_hours=None if age is None else float(age),
        alert=bool(row["alert"]),
        resolved={outcome: counted.get(outcome, 0) for outcome in OUTCOMES},
    )

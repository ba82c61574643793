"""Dashboards for admins and auditors: the seed's business metrics as server-drawn SVG charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from skill_ledger.domain import Action, check_role
from skill_ledger.readside import reports
from skill_ledger.services import Services
from skill_ledger.web.render import page
from skill_ledger.web.session import Sessions

BAR_HEIGHT = 22
BAR_GAP = 6
LABEL_WIDTH = 150
PLOT_WIDTH = 170
VALUE_WIDTH = 60
CHART_WIDTH = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, value, and where it is drawn."""

    label: str
    value: float
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class Chart:
    """A report drawn as horizontal bars, with the report's table beneath."""

    name: str
    title: str
    description: str
    bars: list[Bar]
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    width: int = CHART_WIDTH

    @property
    def height(self) -> int:
        """Tall enough for every bar (one bar's room when there is none)."""
        return max(1, len(self.bars)) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP


# Which column labels each bar and which gives its length, per report.
CHARTS = (
    ("daily_assessment_rate", "Daily assessment rate", "date", "assessments_created"),
    ("state_distribution", "State distribution", "status", "count"),
    (
        "validation_requirement_distribution",
        "Validation-requirement share",
        "requires_validation",
        "count",
    ),
    ("skill_activity", "Skill activity", "skill_name", "total_assessments"),
    ("instructor_activity", "Instructor activity", "instructor_name", "assessments_created"),
    ("validation_backlog", "Validation backlog", "alert", "pending_validation"),
    ("dispute_rate_by_instructor", "Dispute rate by instructor", "instructor_name", "dispute_rate"),
    ("dispute_resolution_time", "Dispute resolution (median hours)", "outcome", "median_hours"),
    ("open_disputes", "Open disputes", "alert", "open_disputes"),
)


def chart(result: reports.ReportResult, title: str, label: str, value: str) -> Chart:
    """Bars scaled to the largest value, in the report's order."""
    records = result.records()
    values = [float(record[value] or 0) for record in records]
    top = max(values, default=0.0) or 1.0
    bars = [
        Bar(
            label=_label(label, record[label]),
            value=number,
            y=BAR_GAP + index * (BAR_HEIGHT + BAR_GAP),
            width=max(1, round(PLOT_WIDTH * number / top)) if number else 0,
        )
        for index, (record, number) in enumerate(zip(records, values, strict=True))
    ]
    description = reports.find(result.name).description
    return Chart(result.name, title, description, bars, result.columns, result.rows)


def _label(column: str, value: Any) -> str:
    if column == "requires_validation":
        return "needs validation" if value else "no validation"
    if column == "alert":
        return "pending (ALERT)" if value else "pending"
    return str(value)


@get("/ui/dashboard", sync_to_thread=True)
def dashboard(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    services: NamedDependency[Services],
) -> Response[Any]:
    """Every report as a chart and a table (the analysts' views, on the ledger's database)."""
    user = sessions.user(request)
    check_role(user.role, Action.AUDIT)
    charts, missing = [], []
    for name, title, label, value in CHARTS:
        try:
            charts.append(chart(reports.run(services.db, name), title, label, value))
        except reports.ReportError as e:
            missing.append(f"{title}: {e}")
    return page(request, sessions, "dashboard.html", user, charts=charts, missing=missing)


ROUTES = [dashboard]

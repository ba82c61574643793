"""Report views on real SQLite and PostgreSQL: known histories in, known numbers out."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from typer.testing import CliRunner

from skill_ledger import migrate as schema
from skill_ledger.application import CommandResult
from skill_ledger.cli import app
from skill_ledger.domain import Actor, Assessment, Status, ValidationPolicy
from skill_ledger.readside import reports
from skill_ledger.readside.table import write_rows
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import Cast, seed_cast

# An instructor's first two assessments need validation; later ones only on a 25-point jump.
POLICY = ValidationPolicy(new_instructor_assessments=2, score_jump_percent=25.0)


@dataclass(frozen=True)
class ReportStory:
    """A small ledger built through the application and projected."""

    services: Services
    cast: Cast
    other_license: int
    first_pending_id: UUID
    first_pending_at: datetime


@pytest.fixture
def ledger(database_url: DatabaseURL, open_services: Callable[..., Services]) -> Services:
    """Services whose validation policy the history below is written against."""
    return open_services(database_url, policy=POLICY)


@pytest.fixture
def history(ledger: Services) -> ReportStory:
    """Five assessments by two instructors on two licenses, one replaced, one validated.

    Rows: L1 ball_control 8/10 ASSESSED (needs validation), L1 passing 6/10 ASSESSED (needs
    validation), L1 dribbling 5/10 ARCHIVED (replaced), L1 dribbling 7/10 ASSESSED, L2
    ball_control 9/10 VALIDATED (needed validation).
    """
    cast = seed_cast(ledger)
    other = ledger.accounts.add_license(cast.student_email)

    def assess(who: Actor, license_id: int, skill: str, points: int) -> CommandResult:
        result = ledger.ledger.assess(who, license_id, skill, points, 10)
        ledger.projector.catch_up()  # the policy counts an instructor's projected assessments
        return result

    first = assess(cast.instructor, cast.license_id, "ball_control", 8)
    assess(cast.instructor, cast.license_id, "passing", 6)
    assess(cast.instructor, cast.license_id, "dribbling", 5)
    assess(cast.instructor, cast.license_id, "dribbling", 7)
    validated = assess(cast.other_instructor, other, "ball_control", 9)
    ledger.ledger.validate(cast.admin, validated.assessment_id)
    ledger.projector.catch_up()
    assert first.assessment is not None
    return ReportStory(ledger, cast, other, first.assessment_id, first.assessment.assessed_at)


def rows_of(services: Services, name: str) -> list[dict[str, object]]:
    return reports.run(services.db, name).records()


def pending(
    assessed_at: datetime, *, points: int = 7, assessor: int = 1, skill: str | None = None
) -> Assessment:
    """A read-table row waiting for validation, at a time the test chooses."""
    return Assessment(
        id=uuid4(),
        user_license_id=1,
        skill_name=skill or f"skill_{uuid4().hex[:8]}",
        points_earned=points,
        points_total=10,
        notes="",
        status=Status.ASSESSED,
        requires_validation=True,
        assessed_by=assessor,
        assessed_at=assessed_at,
        previous_status=Status.NOT_ASSESSED,
        status_changed_at=assessed_at,
        status_changed_by=assessor,
    )


def insert(services: Services, rows: Iterable[Assessment]) -> None:
    with services.db.transaction() as cursor:
        write_rows(cursor, rows)


def set_report_settings(services: Services, **values: float) -> None:
    assignments = ", ".join(f"{column} = %s" for column in values)
    with services.db.transaction() as cursor:
        cursor.execute(f"UPDATE report_settings SET {assignments}", list(values.values()))


def utc_today() -> date:
    return datetime.now(UTC).date()


# -- views on an application-built history ------------------------------------------------------


def test_state_distribution_counts_each_status_with_its_share(history: ReportStory) -> None:
    assert rows_of(history.services, "state_distribution") == [
        {"status": "ASSESSED", "count": 3, "percentage": 60.0},
        {"status": "ARCHIVED", "count": 1, "percentage": 20.0},
        {"status": "VALIDATED", "count": 1, "percentage": 20.0},
    ]


def test_validation_requirement_distribution_splits_the_window(history: ReportStory) -> None:
    assert rows_of(history.services, "validation_requirement_distribution") == [
        {"requires_validation": True, "count": 3, "percentage": 60.0},
        {"requires_validation": False, "count": 2, "percentage": 40.0},
    ]


def test_skill_activity_averages_only_active_assessments(history: ReportStory) -> None:
    assert rows_of(history.services, "skill_activity") == [
        {"skill_name": "ball_control", "total_assessments": 2, "avg_percentage": 85.0,
         "unique_students": 2},
        {"skill_name": "dribbling", "total_assessments": 1, "avg_percentage": 70.0,
         "unique_students": 1},
        {"skill_name": "passing", "total_assessments": 1, "avg_percentage": 60.0,
         "unique_students": 1},
    ]  # fmt: skip


def test_instructor_activity_names_assessors_and_counts_archived_ones(history: ReportStory) -> None:
    result = reports.run(history.services.db, "instructor_activity")
    assert "password_hash" not in result.columns
    assert result.records() == [
        {"instructor_id": history.cast.instructor.user_id, "instructor_name": "instructor",
         "assessments_created": 4, "avg_score_given": 65.0, "validation_required_count": 2},
        {"instructor_id": history.cast.other_instructor.user_id,
         "instructor_name": "other_instructor", "assessments_created": 1,
         "avg_score_given": 90.0, "validation_required_count": 1},
    ]  # fmt: skip


def test_daily_rate_lists_every_day_of_the_window_newest_first(history: ReportStory) -> None:
    rows = rows_of(history.services, "daily_assessment_rate")
    today = utc_today()
    assert [row["date"] for row in rows] == [today - timedelta(days=n) for n in range(7)]
    assert rows[0] == {
        "date": today,
        "assessments_created": 5,
        "unique_students": 2,
        "unique_instructors": 2,
    }
    assert all(row["assessments_created"] == 0 for row in rows[1:])


def test_backlog_counts_what_waits_for_an_admin(history: ReportStory) -> None:
    backlog = reports.backlog(history.services.db)
    assert backlog.pending == 2
    assert backlog.oldest == history.first_pending_at
    assert backlog.newest is not None
    assert backlog.newest > backlog.oldest
    assert backlog.oldest_age_hours is not None
    assert 0 <= backlog.oldest_age_hours < 1
    assert (backlog.alert_pending_threshold, backlog.alert_age_hours_threshold) == (50, 48.0)
    assert backlog.alert is False

    history.services.ledger.validate(history.cast.admin, history.first_pending_id)
    history.services.projector.catch_up()
    assert reports.backlog(history.services.db).pending == 1


# -- time windows and thresholds (rows written with chosen timestamps) ---------------------------


def test_windowed_reports_leave_out_older_assessments(ledger: Services) -> None:
    now = datetime.now(UTC)
    insert(ledger, [pending(now - timedelta(days=3), skill="passing"),
                    pending(now - timedelta(days=10), skill="heading")])  # fmt: skip
    daily = {
        row["date"]: row["assessments_created"] for row in rows_of(ledger, "daily_assessment_rate")
    }
    assert daily[(now - timedelta(days=3)).date()] == 1
    assert sum(daily.values()) == 1  # type: ignore[arg-type]
    assert [row["skill_name"] for row in rows_of(ledger, "skill_activity")] == ["passing"]
    assert sum(row["count"] for row in rows_of(ledger, "state_distribution")) == 2  # type: ignore[misc]


def test_window_days_setting_widens_every_windowed_report(ledger: Services) -> None:
    now = datetime.now(UTC)
    insert(ledger, [pending(now - timedelta(days=10), skill="heading")])
    set_report_settings(ledger, window_days=14)
    daily = rows_of(ledger, "daily_assessment_rate")
    assert len(daily) == 14
    assert sum(row["assessments_created"] for row in daily) == 1  # type: ignore[misc]
    assert rows_of(ledger, "skill_activity")[0]["skill_name"] == "heading"
    assert rows_of(ledger, "instructor_activity")[0]["assessments_created"] == 1


def test_backlog_alerts_when_the_oldest_waits_longer_than_the_threshold(ledger: Services) -> None:
    insert(ledger, [pending(datetime.now(UTC) - timedelta(hours=49))])
    backlog = reports.backlog(ledger.db)
    assert backlog.alert is True
    assert backlog.oldest_age_hours is not None
    assert 49 <= backlog.oldest_age_hours < 49.5

    set_report_settings(ledger, backlog_alert_age_hours=72)
    assert reports.backlog(ledger.db).alert is False


def test_backlog_alerts_above_fifty_pending_by_default(ledger: Services) -> None:
    now = datetime.now(UTC)
    insert(ledger, [pending(now - timedelta(minutes=n)) for n in range(50)])
    assert reports.backlog(ledger.db).alert is False

    insert(ledger, [pending(now)])
    assert reports.backlog(ledger.db).alert is True

    set_report_settings(ledger, backlog_alert_pending=60)
    assert reports.backlog(ledger.db).alert is False


def test_empty_backlog_has_no_oldest_and_no_alert(ledger: Services) -> None:
    backlog = reports.backlog(ledger.db)
    assert (backlog.pending, backlog.oldest, backlog.oldest_age_hours, backlog.alert) == (
        0,
        None,
        None,
        False,
    )
    assert backlog.oldest_age_seconds == 0.0


def test_unknown_report_is_a_named_error(ledger: Services) -> None:
    with pytest.raises(reports.UnknownReport):
        reports.run(ledger.db, "users")


def test_report_migrations_downgrade_and_upgrade_again(ledger: Services) -> None:
    url = ledger.settings.database
    schema.downgrade(url, "2026_11_25_0920")
    assert schema.current(url) == "2026_11_25_0920"
    with pytest.raises(reports.ReportUnavailable):
        reports.run(ledger.db, "validation_backlog")
    schema.upgrade(url)
    assert schema.current(url) == schema.head()
    assert reports.backlog(ledger.db).pending == 0


# -- ledger report ------------------------------------------------------------------------------


def invoke(url: DatabaseURL, *args: str) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:  # the CLI points logging at the runner's stderr, which closes after the run
        result = CliRunner().invoke(app, ["report", *args], env={"LEDGER_DATABASE_URL": url.url()})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return result.exit_code, result.stdout, result.stderr


def test_ledger_report_validation_backlog_prints_the_backlog(history: ReportStory) -> None:
    code, stdout, _ = invoke(history.services.settings.database, "validation_backlog")
    assert code == 0
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in stdout.splitlines() if line.count("│") == 3}  # fmt: skip
    assert lines["pending_validation"] == "2"
    assert lines["alert"] == "false"


def test_ledger_report_json_and_csv_parse(history: ReportStory) -> None:
    url = history.services.settings.database
    code, stdout, _ = invoke(url, "validation_backlog", "--format", "json")
    assert code == 0
    [backlog] = json.loads(stdout)
    assert backlog["pending_validation"] == 2
    assert datetime.fromisoformat(backlog["oldest_pending"]) == history.first_pending_at

    code, stdout, _ = invoke(url, "state_distribution", "--format", "csv")
    assert code == 0
    assert list(csv.DictReader(io.StringIO(stdout))) == [
        {"status": "ASSESSED", "count": "3", "percentage": "60.0"},
        {"status": "ARCHIVED", "count": "1", "percentage": "20.0"},
        {"status": "VALIDATED", "count": "1", "percentage": "20.0"},
    ]


def test_ledger_report_list_names_every_report(sqlite_url: DatabaseURL) -> None:
    code, stdout, _ = invoke(sqlite_url, "--list")
    assert code == 0
    assert [line.split()[0] for line in stdout.splitlines()] == reports.names()


def test_ledger_report_rejects_an_unknown_name(sqlite_url: DatabaseURL) -> None:
    code, _, stderr = invoke(sqlite_url, "password_hashes")
    assert code == 2
    assert "No report 'password_hashes'" in stderr

"""The dispute views and metrics on real SQLite and PostgreSQL: known rows in, known numbers out."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from skill_ledger.domain import Assessment, Status
from skill_ledger.readside import reports
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.integration.test_reports import insert, invoke, pending, rows_of, set_report_settings

NOW = datetime.now(UTC)


@pytest.fixture
def ledger(database_url: DatabaseURL, open_services: Callable[..., Services]) -> Services:
    """An empty ledger of each backend."""
    return open_services(database_url)


def validated(by: int, *, days_ago: float = 1, disputed: bool = False) -> Assessment:
    """A row assessed by `by` and validated `days_ago`, disputed an hour later if asked."""
    at = NOW - timedelta(days=days_ago)
    row = dataclasses.replace(
        pending(at - timedelta(hours=1), assessor=by),
        status=Status.VALIDATED,
        validated_by=99,
        validated_at=at,
    )
    if disputed:
        row = dataclasses.replace(
            row, status=Status.DISPUTED, disputed_by=5, disputed_at=at + timedelta(hours=1)
        )
    return row


def resolved(outcome: str, hours: float, *, days_ago: float = 1) -> Assessment:
    """A dispute resolved `days_ago` after `hours` open."""
    at = NOW - timedelta(days=days_ago)
    row = validated(7, days_ago=days_ago + hours / 24 + 0.1, disputed=True)
    return dataclasses.replace(
        row,
        status=Status.VALIDATED if outcome == "reject" else Status.ASSESSED,
        disputed_at=at - timedelta(hours=hours),
        dispute_resolved_by=98,
        dispute_resolved_at=at,
        dispute_outcome=outcome,
    )


def test_dispute_rate_flags_instructors_above_the_threshold(ledger: Services) -> None:
    rows = [validated(3, disputed=True), *(validated(3) for _ in range(3))]
    rows += [validated(4) for _ in range(5)]
    rows += [validated(3, days_ago=30, disputed=True)]  # validated before the window
    insert(ledger, rows)

    rates = rows_of(ledger, "dispute_rate_by_instructor")

    assert [
        (r["instructor_id"], r["validated"], r["disputed"], r["dispute_rate"], r["needs_training"])
        for r in rates
    ] == [(3, 4, 1, 25.0, True), (4, 5, 0, 0.0, False)]
    assert {r["alert_rate_threshold"] for r in rates} == {20.0}
    set_report_settings(ledger, dispute_rate_alert_percent=30)
    assert rows_of(ledger, "dispute_rate_by_instructor")[0]["needs_training"] is False


def test_resolution_time_gives_median_and_p90_by_outcome(ledger: Services) -> None:
    insert(ledger, [resolved("approve", hours) for hours in (1, 2, 3, 4, 10)])
    insert(ledger, [resolved("reject", 5), resolved("modify", 2, days_ago=30)])

    times = rows_of(ledger, "dispute_resolution_time")

    assert [(t["outcome"], t["resolved"], t["median_hours"], t["p90_hours"]) for t in times] == [
        ("approve", 5, 3.0, 10.0),
        ("reject", 1, 5.0, 5.0),
    ]


def test_open_disputes_alert_on_count_and_on_age(ledger: Services) -> None:
    empty = reports.disputes(ledger.db)
    insert(ledger, [validated(3, days_ago=4, disputed=True), validated(4, disputed=True)])
    insert(ledger, [resolved("approve", 1), resolved("modify", 2), resolved("approve", 3)])

    [row] = rows_of(ledger, "open_disputes")
    figures = reports.disputes(ledger.db)
    set_report_settings(ledger, open_disputes_alert_age_hours=200)
    quiet = reports.disputes(ledger.db)
    set_report_settings(ledger, open_disputes_alert=1)
    crowded = reports.disputes(ledger.db)

    assert (empty.open, empty.oldest_age_seconds, empty.alert) == (0, 0.0, False)
    assert row["open_disputes"] == 2
    assert 94 < row["oldest_age_hours"] < 96  # validated 4 days ago, disputed an hour later
    assert (row["alert_open_threshold"], row["alert_age_hours_threshold"]) == (10, 72.0)
    assert row["alert"] is True
    assert figures.resolved == {"approve": 2, "reject": 0, "modify": 1, "superseded": 0}
    assert 94 * 3600 < figures.oldest_age_seconds < 96 * 3600
    assert quiet.alert is False
    assert crowded.alert is True


def test_ledger_report_prints_each_dispute_view(ledger: Services) -> None:
    insert(ledger, [validated(3, disputed=True), resolved("reject", 4)])
    url = ledger.settings.database
    outputs = {
        name: invoke(url, name, "--format", "json")
        for name in ("dispute_rate_by_instructor", "dispute_resolution_time", "open_disputes")
    }
    assert {name: code for name, (code, _, _) in outputs.items()} == dict.fromkeys(outputs, 0)
    assert json.loads(outputs["open_disputes"][1])[0]["open_disputes"] == 1
    assert json.loads(outputs["dispute_resolution_time"][1])[0]["outcome"] == "reject"
    code, listing, _ = invoke(url, "--list")
    assert code == 0
    assert {"dispute_rate_by_instructor", "dispute_resolution_time", "open_disputes"} <= {
        line.split()[0] for line in listing.splitlines()
    }


def test_the_dispute_views_never_read_unknown_rows(ledger: Services) -> None:
    """A row never disputed counts as validated only, in no dispute view."""
    insert(ledger, [validated(3)])
    assert rows_of(ledger, "dispute_resolution_time") == []
    assert rows_of(ledger, "open_disputes")[0]["open_disputes"] == 0
    assert rows_of(ledger, "dispute_rate_by_instructor")[0]["disputed"] == 0

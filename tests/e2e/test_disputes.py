"""Disputes over HTTP on PostgreSQL: each outcome end to end, the list, and every refusal as
problem+json naming the field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from skill_ledger.domain import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import DEMO, Server, event_count
from tests.integration.test_concurrency import all_at_once

PROBLEM = "application/problem+json"
REASON = {"reason": "the drill was not the one agreed"}


@dataclass
class Desk:
    """The module's server, a second admin (the resolver) and each caller's headers."""

    server: Server
    db: Database
    accounts: Accounts
    headers: dict[str, dict[str, str]]

    def post(self, who: str, path: str, body: Any = None) -> httpx.Response:
        """POST as this caller."""
        with self.server.client() as client:
            return client.post(path, json=body, headers=self.headers[who])

    def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        """GET as this caller."""
        with self.server.client() as client:
            return client.get(path, params=params, headers=self.headers[who])

    def validated(self, points: int = 6) -> str:
        """A fresh license of the demo student, an assessment on it, validated; its id."""
        license_id = self.accounts.add_license(DEMO["student"][0])
        made = self.post(
            "instructor",
            f"/api/v1/licenses/{license_id}/skills/passing/assess",
            {"points_earned": points, "points_total": 10},
        )
        assert made.status_code == 201, made.text
        assessment_id: str = made.json()["assessment"]["id"]
        checked = self.post("admin", f"/api/v1/assessments/{assessment_id}/validate")
        assert checked.status_code == 200, checked.text
        return assessment_id

    def disputed(self) -> str:
        """A validated assessment the student disputed; its id."""
        assessment_id = self.validated()
        response = self.post("student", f"/api/v1/assessments/{assessment_id}/dispute", REASON)
        assert response.status_code == 200, response.text
        return assessment_id


@pytest.fixture(scope="module")
def desk(module_server: Server, module_db: Database, module_accounts: Accounts) -> Desk:
    """The demo callers, a resolver (an admin who neither assessed nor validated) and a
    student holding another license."""
    suffix = uuid.uuid4().hex[:8]
    resolver = f"resolver-{suffix}@academy.test"
    other = f"other-student-{suffix}@academy.test"
    module_accounts.add_user(resolver, "Resolver", Role.ADMIN, PASSWORD)
    module_accounts.add_user(other, "Other student", Role.STUDENT, PASSWORD)
    module_accounts.add_license(other)
    headers = {role: module_server.headers(role) for role in DEMO}
    for caller, email in (("resolver", resolver), ("other_student", other)):
        headers[caller] = {"Authorization": f"Bearer {module_server.login(email, PASSWORD)}"}
    return Desk(module_server, module_db, module_accounts, headers)


def test_dispute_then_approve_returns_it_to_assessed_needing_validation(desk: Desk) -> None:
    assessment_id = desk.validated()
    before = event_count(desk.db)

    disputed = desk.post("student", f"/api/v1/assessments/{assessment_id}/dispute", REASON)
    approved = desk.post(
        "resolver", f"/api/v1/assessments/{assessment_id}/resolve", {"outcome": "approve"}
    )
    again = desk.post(
        "resolver", f"/api/v1/assessments/{assessment_id}/resolve", {"outcome": "approve"}
    )

    assert disputed.status_code == 200, disputed.text
    row = disputed.json()["assessment"]
    assert (row["status"], row["dispute_reason"], row["dispute_outcome"]) == (
        "DISPUTED",
        REASON["reason"],
        None,
    )
    assert row["disputed_at"] is not None
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["success"] is True
    assert body["replacement"] is None
    assert body["assessment"]["status"] == "ASSESSED"
    assert body["assessment"]["requires_validation"] is True
    assert body["assessment"]["dispute_outcome"] == "approve"
    assert again.status_code == 200
    assert again.json()["assessment"] == body["assessment"]
    assert event_count(desk.db) - before == 2  # Disputed, DisputeResolved; the repeat nothing
    assert "VALIDATED → DISPUTED (user=" in desk.server.logs()


def test_dispute_then_reject_keeps_it_validated_and_it_cannot_be_reopened(desk: Desk) -> None:
    assessment_id = desk.disputed()
    path = f"/api/v1/assessments/{assessment_id}"

    without_note = desk.post("resolver", f"{path}/resolve", {"outcome": "reject"})
    rejected = desk.post("resolver", f"{path}/resolve", {"outcome": "reject", "note": "fair"})
    reopened = desk.post("student", f"{path}/dispute", REASON)

    assert without_note.status_code == 400
    assert without_note.json()["field"] == "note"
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["assessment"]["status"] == "VALIDATED"
    assert rejected.json()["assessment"]["dispute_outcome"] == "reject"
    assert reopened.status_code == 409
    assert "cannot be disputed again" in reopened.json()["detail"]


def test_dispute_then_modify_archives_it_and_the_new_points_become_active(desk: Desk) -> None:
    assessment_id = desk.disputed()
    path = f"/api/v1/assessments/{assessment_id}/resolve"
    body = {"outcome": "modify", "note": "regraded", "points_earned": 8, "points_total": 10}

    same = desk.post("resolver", path, {**body, "points_earned": 6})
    modified = desk.post("resolver", path, body)
    again = desk.post("resolver", path, body)

    assert same.status_code == 409
    assert "resolve with reject" in same.json()["detail"]
    assert modified.status_code == 200, modified.text
    old, new = modified.json()["assessment"], modified.json()["replacement"]
    assert (old["status"], old["archived_reason"], old["dispute_outcome"]) == (
        "ARCHIVED",
        "Replaced after dispute",
        "modify",
    )
    assert (new["status"], new["points_earned"], new["notes"]) == ("ASSESSED", 8, "regraded")
    assert again.status_code == 200
    assert again.json()["replacement"]["id"] == new["id"]
    history = desk.get(
        "admin", f"/api/v1/licenses/{old['user_license_id']}/skills/passing/assessments"
    )
    assert [row["id"] for row in history.json()] == [new["id"], assessment_id]


def test_a_new_assessment_supersedes_an_open_dispute(desk: Desk) -> None:
    assessment_id = desk.disputed()
    row = desk.get("admin", f"/api/v1/assessments/{assessment_id}").json()

    replaced = desk.post(
        "instructor",
        f"/api/v1/licenses/{row['user_license_id']}/skills/passing/assess",
        {"points_earned": 9, "points_total": 10},
    )
    old = desk.get("admin", f"/api/v1/assessments/{assessment_id}").json()

    assert replaced.status_code == 201, replaced.text
    assert (old["status"], old["dispute_outcome"], old["previous_status"]) == (
        "ARCHIVED",
        "superseded",
        "DISPUTED",
    )


def test_the_dispute_list_pages_and_students_see_only_their_own(desk: Desk) -> None:
    first, second = desk.disputed(), desk.disputed()

    page = desk.get("auditor", "/api/v1/disputes", status="open", limit=1000)
    ids = [row["id"] for row in page.json()["disputes"]]
    position = ids.index(first)
    one = desk.get("admin", "/api/v1/disputes", status="open", after=first, limit=1)
    mine = desk.get("student", "/api/v1/disputes")
    theirs = desk.get("other_student", "/api/v1/disputes")
    bad = desk.get("admin", "/api/v1/disputes", status="closed")

    assert page.status_code == 200
    assert ids[position + 1] == second
    assert one.json()["disputes"][0]["id"] == second
    assert one.json()["next_after"] == second
    assert {first, second} <= {row["id"] for row in mine.json()["disputes"]}
    assert theirs.json() == {"disputes": [], "next_after": None}
    assert bad.status_code == 400
    assert bad.json()["field"] == "status"


@dataclass(frozen=True)
class Refusal:
    """A dispute or resolve request on an assessment in some state, and its answer."""

    id: str
    command: str
    body: Any
    expected: int
    state: str = "VALIDATED"
    caller: str = "student"
    field: str | None = None
    detail: str | None = None


REFUSALS = [
    Refusal("dispute-without-reason", "dispute", {}, 400, field="reason"),
    Refusal("dispute-empty-reason", "dispute", {"reason": ""}, 400, field="reason"),
    Refusal("dispute-blank-reason", "dispute", {"reason": "  "}, 400, field="reason"),
    Refusal("dispute-reason-1001", "dispute", {"reason": "x" * 1001}, 400, field="reason"),
    Refusal("dispute-nul-reason", "dispute", {"reason": "a\x00b"}, 400, field="reason"),
    Refusal("dispute-unknown-field", "dispute", {**REASON, "x": 1}, 400, field="x"),
    Refusal("dispute-by-other-student", "dispute", REASON, 403, caller="other_student"),
    Refusal("dispute-unknown", "dispute", REASON, 404, state="UNKNOWN"),
    Refusal("dispute-assessed", "dispute", REASON, 409, state="ASSESSED", detail="ASSESSED"),
    Refusal("dispute-twice", "dispute", REASON, 409, state="DISPUTED", detail="already"),
    Refusal(
        "resolve-unknown-outcome",
        "resolve",
        {"outcome": "maybe"},
        400,
        caller="resolver",
        state="DISPUTED",
        field="outcome",
    ),
    Refusal(
        "resolve-superseded",
        "resolve",
        {"outcome": "superseded"},
        400,
        caller="resolver",
        state="DISPUTED",
        field="outcome",
    ),
    Refusal(
        "resolve-modify-no-points",
        "resolve",
        {"outcome": "modify"},
        400,
        caller="resolver",
        state="DISPUTED",
        field="points_earned",
    ),
    Refusal(
        "resolve-modify-half-points",
        "resolve",
        {"outcome": "modify", "points_earned": 3},
        400,
        caller="resolver",
        state="DISPUTED",
        field="points_total",
    ),
    Refusal(
        "resolve-note-1001",
        "resolve",
        {"outcome": "approve", "note": "x" * 1001},
        400,
        caller="resolver",
        state="DISPUTED",
        field="note",
    ),
    Refusal(
        "resolve-by-validator",
        "resolve",
        {"outcome": "approve"},
        403,
        caller="admin",
        state="DISPUTED",
        detail="neither assessed nor validated",
    ),
    Refusal(
        "resolve-unknown",
        "resolve",
        {"outcome": "approve"},
        404,
        caller="resolver",
        state="UNKNOWN",
    ),
    Refusal(
        "resolve-not-disputed",
        "resolve",
        {"outcome": "approve"},
        409,
        caller="resolver",
        detail="not disputed",
    ),
]


@pytest.mark.parametrize("row", REFUSALS, ids=[row.id for row in REFUSALS])
def test_bad_disputes_and_resolutions_are_refused_as_problems(desk: Desk, row: Refusal) -> None:
    if row.state == "UNKNOWN":
        target = str(uuid.uuid4())
    elif row.state == "DISPUTED":
        target = desk.disputed()
    elif row.state == "ASSESSED":
        license_id = desk.accounts.add_license(DEMO["student"][0])
        made = desk.post(
            "instructor",
            f"/api/v1/licenses/{license_id}/skills/passing/assess",
            {"points_earned": 5, "points_total": 10},
        )
        target = made.json()["assessment"]["id"]
    else:
        target = desk.validated()
    before = event_count(desk.db)

    response = desk.post(row.caller, f"/api/v1/assessments/{target}/{row.command}", row.body)

    assert response.status_code == row.expected, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == row.expected
    assert problem.get("field") == row.field, problem
    if row.detail is not None:
        assert row.detail in problem["detail"]
    assert event_count(desk.db) == before


def test_racing_requests_get_one_outcome_each_and_never_a_5xx(desk: Desk) -> None:
    """Two admins resolving at once, and a dispute racing a replacement, over HTTP."""
    assessment_id = desk.disputed()
    resolve = f"/api/v1/assessments/{assessment_id}/resolve"
    resolutions = all_at_once(
        [
            lambda: desk.post("resolver", resolve, {"outcome": "approve"}),
            lambda: desk.post("resolver", resolve, {"outcome": "reject", "note": "stands"}),
        ]
    )
    target = desk.validated()
    license_id = desk.get("admin", f"/api/v1/assessments/{target}").json()["user_license_id"]
    race = all_at_once(
        [
            lambda: desk.post("student", f"/api/v1/assessments/{target}/dispute", REASON),
            lambda: desk.post(
                "instructor",
                f"/api/v1/licenses/{license_id}/skills/passing/assess",
                {"points_earned": 1, "points_total": 10},
            ),
        ]
    )
    old = desk.get("admin", f"/api/v1/assessments/{target}").json()

    assert sorted(r.status_code for r in resolutions) == [200, 409]
    [won] = [r for r in resolutions if r.status_code == 200]
    assert won.json()["assessment"]["dispute_outcome"] in ("approve", "reject")
    assert race[1].status_code == 201
    assert race[0].status_code in (200, 409)
    assert old["status"] == "ARCHIVED"
    expected = "superseded" if race[0].status_code == 200 else None
    assert old["dispute_outcome"] == expected


def test_metrics_show_open_disputes_and_resolutions_by_outcome(desk: Desk) -> None:
    open_id = desk.disputed()
    closed = desk.disputed()
    desk.post("resolver", f"/api/v1/assessments/{closed}/resolve", {"outcome": "approve"})
    with desk.server.client() as client:
        text = client.get("/metrics").text
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ledger_") and "dispute" in line
    }

    assert values["ledger_open_disputes"] >= 1
    assert values["ledger_open_disputes_oldest_age_seconds"] >= 0
    assert values['ledger_disputes_total{outcome="approve"}'] >= 1
    assert {
        f'ledger_disputes_total{{outcome="{o}"}}' for o in ("reject", "modify", "superseded")
    } <= (values.keys())
    row = desk.get("admin", f"/api/v1/assessments/{open_id}").json()
    assert row["status"] == "DISPUTED"

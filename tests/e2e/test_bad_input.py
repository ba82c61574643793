"""A table of bad inputs over real HTTP: exact status codes, problem+json, the offending field.

Every row gets its own fresh license and, where it needs one, a fresh assessment in the state
it names, so rows never depend on one another and share one server. No row may record an event
unless it is a success, and none may answer 500.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from tests.e2e.conftest import DEMO, Server, event_count

NO_BODY = object()
JSON = "application/json"
PROBLEM = "application/problem+json"
ASSESS = "/api/v1/licenses/{license}/skills/ball_control/assess"
HISTORY = "/api/v1/licenses/{license}/skills/ball_control/assessments"
ONE = "/api/v1/assessments/{assessment}"
LOGIN = "/api/v1/auth/login"
UNKNOWN_UUID = "3f1e2d3c-4b5a-4968-8776-655443322110"
OK = {"points_earned": 7, "points_total": 10}


@dataclass(frozen=True)
class Bad:
    """One request, the status it must get and, for body errors, the field it must name."""

    id: str
    path: str
    expected: int
    body: Any = NO_BODY
    raw: bytes | None = None
    content_type: str | None = JSON
    field: str | None = None
    method: str = "POST"
    role: str = "instructor"
    state: str = "ASSESSED"
    detail: str | None = None


def assess(id: str, body: Any, expected: int = 400, field: str | None = None, **kw: Any) -> Bad:
    """A row posting this body to assess."""
    return Bad(id, ASSESS, expected, body=body, field=field, **kw)


def archive(id: str, body: Any, expected: int = 400, field: str | None = None, **kw: Any) -> Bad:
    """A row archiving a fresh assessment with this body."""
    return Bad(id, ONE + "/archive", expected, body=body, field=field, **kw)


def login(id: str, body: Any, expected: int = 400, field: str | None = None, **kw: Any) -> Bad:
    """A row posting this body to login."""
    return Bad(id, LOGIN, expected, body=body, field=field, role="none", **kw)


ROWS = [
    # -- assess: fields missing, extra, unknown ------------------------------------------
    assess("assess-missing-points_earned", {"points_total": 10}, field="points_earned"),
    assess("assess-missing-points_total", {"points_earned": 7}, field="points_total"),
    assess("assess-empty-object", {}, field="points_earned"),
    assess("assess-unknown-field", {**OK, "grade": "A"}, field="grade"),
    assess("assess-server-field-status", {**OK, "status": "VALIDATED"}, field="status"),
    assess("assess-server-field-id", {**OK, "id": str(uuid.uuid4())}, field="id"),
    # -- assess: wrong types for integers --------------------------------------------------
    assess("assess-string-points_earned", {**OK, "points_earned": "7"}, field="points_earned"),
    assess("assess-string-points_total", {**OK, "points_total": "10"}, field="points_total"),
    assess("assess-float-points_earned", {**OK, "points_earned": 7.5}, field="points_earned"),
    assess("assess-integral-float-points", {**OK, "points_earned": 7.0}, field="points_earned"),
    assess("assess-float-points_total", {**OK, "points_total": 10.0}, field="points_total"),
    assess("assess-bool-points_earned", {**OK, "points_earned": True}, field="points_earned"),
    assess("assess-bool-points_total", {**OK, "points_total": False}, field="points_total"),
    assess("assess-null-points_earned", {**OK, "points_earned": None}, field="points_earned"),
    assess("assess-null-points_total", {**OK, "points_total": None}, field="points_total"),
    assess("assess-list-points_earned", {**OK, "points_earned": [7]}, field="points_earned"),
    # -- assess: integer ranges ----------------------------------------------------------------
    assess("assess-huge-points_earned", {**OK, "points_earned": 10**30}, field="points_earned"),
    assess("assess-huge-points_total", {**OK, "points_total": 10**30}, field="points_total"),
    assess("assess-negative-points_earned", {**OK, "points_earned": -1}, field="points_earned"),
    assess("assess-negative-points_total", {**OK, "points_total": -10}, field="points_total"),
    assess("assess-points_total-0", {"points_earned": 0, "points_total": 0}, field="points_total"),
    assess("assess-points_total-1001", {**OK, "points_total": 1001}, field="points_total"),
    assess(
        "assess-earned-above-total",
        {"points_earned": 11, "points_total": 10},
        field="points_earned",
    ),
    assess("assess-points_total-1", {"points_earned": 0, "points_total": 1}, 201),
    assess("assess-points_total-1000", {"points_earned": 1000, "points_total": 1000}, 201),
    # -- assess: notes ---------------------------------------------------------------------------
    assess("assess-notes-2001-chars", {**OK, "notes": "n" * 2001}, field="notes"),
    assess("assess-notes-2000-chars", {**OK, "notes": "n" * 2000}, 201),
    assess("assess-notes-2000-emoji", {**OK, "notes": "⚽" * 2000}, 201),
    assess("assess-notes-null", {**OK, "notes": None}, 201),
    assess("assess-notes-integer", {**OK, "notes": 5}, field="notes"),
    assess("assess-notes-with-nul", {**OK, "notes": "a\x00b"}, field="notes"),
    # -- assess: not a JSON object ------------------------------------------------------------
    Bad("assess-malformed-json", ASSESS, 400, raw=b'{"points_earned": 7,', detail="Malformed JSON"),
    Bad("assess-invalid-utf8", ASSESS, 400, raw=b'{"notes": "\xff\xfe"}', detail="Malformed JSON"),
    Bad("assess-empty-body", ASSESS, 400, raw=b"", detail="body"),
    assess("assess-json-array", [7, 10]),
    assess("assess-json-string", "7 of 10"),
    assess("assess-json-number", 7),
    assess("assess-json-null", None),
    # -- assess: content type and size ----------------------------------------------------------
    assess("assess-text-plain", OK, 415, content_type="text/plain"),
    assess("assess-form-urlencoded", OK, 415, content_type="application/x-www-form-urlencoded"),
    assess("assess-json-with-charset", OK, 201, content_type="application/json; charset=utf-8"),
    assess("assess-no-content-type", OK, 201, content_type=None),
    assess("assess-body-over-64KiB", {**OK, "notes": "n" * 70_000}, 413),
    # -- assess: path ------------------------------------------------------------------------------
    Bad("assess-unknown-license", ASSESS.replace("{license}", "999999"), 404, body=OK),
    Bad("assess-unknown-skill", ASSESS.replace("ball_control", "juggling"), 404, body=OK),
    Bad("assess-skill-wrong-case", ASSESS.replace("ball_control", "BALL_CONTROL"), 404, body=OK),
    Bad("assess-skill-nul", ASSESS.replace("ball_control", "%00"), 404, body=OK),
    Bad(
        "assess-skill-65-chars",
        ASSESS.replace("ball_control", "s" * 65),
        400,
        body=OK,
        field="skill",
    ),
    Bad("assess-license-0", ASSESS.replace("{license}", "0"), 400, body=OK, field="license_id"),
    Bad(
        "assess-license-negative",
        ASSESS.replace("{license}", "-1"),
        400,
        body=OK,
        field="license_id",
    ),
    Bad(
        "assess-license-2e63",
        ASSESS.replace("{license}", str(2**63)),
        400,
        body=OK,
        field="license_id",
    ),
    Bad("assess-license-max-bigint", ASSESS.replace("{license}", str(2**63 - 1)), 404, body=OK),
    Bad("assess-license-not-a-number", ASSESS.replace("{license}", "abc"), 404, body=OK),
    # -- history -----------------------------------------------------------------------------------
    Bad("history-unknown-license", HISTORY.replace("{license}", "999999"), 404, method="GET"),
    Bad("history-unknown-skill", HISTORY.replace("ball_control", "juggling"), 404, method="GET"),
    Bad(
        "history-license-0",
        HISTORY.replace("{license}", "0"),
        400,
        method="GET",
        field="license_id",
    ),
    Bad(
        "history-license-2e63",
        HISTORY.replace("{license}", str(2**63)),
        400,
        method="GET",
        field="license_id",
    ),
    # -- one assessment ---------------------------------------------------------------------------
    Bad("get-non-uuid", "/api/v1/assessments/not-a-uuid", 404, method="GET"),
    Bad("get-unknown-uuid", f"/api/v1/assessments/{UNKNOWN_UUID}", 404, method="GET"),
    # -- validate ----------------------------------------------------------------------------------
    Bad("validate-non-uuid", "/api/v1/assessments/42/validate", 404, role="admin"),
    Bad("validate-unknown-uuid", f"/api/v1/assessments/{UNKNOWN_UUID}/validate", 404, role="admin"),
    Bad("validate-archived", ONE + "/validate", 409, role="admin", state="ARCHIVED"),
    Bad("validate-replaced", ONE + "/validate", 409, role="admin", state="REPLACED"),
    Bad("validate-repeated", ONE + "/validate", 200, role="admin", state="VALIDATED"),
    # -- archive -----------------------------------------------------------------------------------
    Bad("archive-non-uuid", "/api/v1/assessments/not-a-uuid/archive", 404, body={"reason": "x"}),
    Bad(
        "archive-unknown-uuid",
        f"/api/v1/assessments/{UNKNOWN_UUID}/archive",
        404,
        body={"reason": "x"},
    ),
    Bad("archive-without-body", ONE + "/archive", 400, raw=b"", detail="body"),
    archive("archive-without-reason", {}, field="reason"),
    archive("archive-empty-reason", {"reason": ""}, field="reason"),
    archive("archive-blank-reason", {"reason": "   "}, field="reason"),
    archive("archive-null-reason", {"reason": None}, field="reason"),
    archive("archive-integer-reason", {"reason": 5}, field="reason"),
    archive("archive-reason-501-chars", {"reason": "r" * 501}, field="reason"),
    archive("archive-reason-with-nul", {"reason": "a\x00b"}, field="reason"),
    archive("archive-unknown-field", {"reason": "x", "by": 1}, field="by"),
    archive("archive-repeated", {"reason": "again"}, 200, state="ARCHIVED"),
    # -- login -------------------------------------------------------------------------------------
    login("login-missing-password", {"email": DEMO["admin"][0]}, field="password"),
    login("login-missing-email", {"password": DEMO["admin"][1]}, field="email"),
    login("login-empty-object", {}, field="email"),
    login(
        "login-unknown-field", {"email": DEMO["admin"][0], "password": "x", "otp": 1}, field="otp"
    ),
    login("login-integer-email", {"email": 5, "password": "x"}, field="email"),
    login("login-null-password", {"email": DEMO["admin"][0], "password": None}, field="password"),
    login("login-email-with-nul", {"email": "a\x00@lfa.com", "password": "x"}, field="email"),
    login("login-text-plain", {"email": "a@b.c", "password": "x"}, 415, content_type="text/plain"),
    Bad(
        "login-malformed-json", LOGIN, 400, raw=b'{"email": ', role="none", detail="Malformed JSON"
    ),
    Bad("login-empty-body", LOGIN, 400, raw=b"", role="none", detail="body"),
    login("login-unknown-email", {"email": "nobody@lfa.com", "password": "whatever-pass"}, 401),
    login("login-wrong-password", {"email": DEMO["admin"][0], "password": "wrong-pass"}, 401),
]


@dataclass
class Target:
    """What a row's path refers to."""

    license_id: int
    assessment_id: str | None


def make_target(server: Server, accounts: Accounts, row: Bad) -> Target:
    """A fresh license and, when the path names one, an assessment in the row's state."""
    license_id = accounts.add_license(DEMO["student"][0])
    if "{assessment}" not in row.path:
        return Target(license_id, None)
    path = ASSESS.format(license=license_id)
    with server.client() as client:
        made = client.post(path, json=OK, headers=server.headers("instructor"))
        assessment_id = made.json()["assessment"]["id"]
        one = f"/api/v1/assessments/{assessment_id}"
        if row.state == "VALIDATED":
            client.post(f"{one}/validate", headers=server.headers("admin"))
        elif row.state == "ARCHIVED":
            client.post(f"{one}/archive", json={"reason": "first"}, headers=server.headers("admin"))
        elif row.state == "REPLACED":
            client.post(path, json={**OK, "points_earned": 8}, headers=server.headers("instructor"))
        current = client.get(one, headers=server.headers("admin")).json()
    expected_status = "ARCHIVED" if row.state == "REPLACED" else row.state
    assert current["status"] == expected_status
    return Target(license_id, assessment_id)


def send(server: Server, row: Bad, target: Target) -> httpx.Response:
    """The row's request."""
    path = row.path.format(license=target.license_id, assessment=target.assessment_id)
    headers = {} if row.role == "none" else dict(server.headers(row.role))
    if row.content_type is not None:
        headers["Content-Type"] = row.content_type
    content = row.raw
    if content is None and row.body is not NO_BODY:
        content = json.dumps(row.body).encode()
    with server.client() as client:
        return client.request(row.method, path, content=content, headers=headers)


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.id}-{row.expected}" for row in ROWS])
def test_bad_input(
    module_server: Server, module_db: Database, module_accounts: Accounts, row: Bad
) -> None:
    target = make_target(module_server, module_accounts, row)
    events_before = event_count(module_db)
    log_before = len(module_server.logs())
    response = send(module_server, row, target)
    recorded = event_count(module_db) - events_before

    assert response.status_code == row.expected, response.text
    assert "unhandled_error" not in module_server.logs()[log_before:]
    if row.expected == 201:
        assert recorded > 0
        return
    assert recorded == 0, f"{recorded} events recorded by a refused or repeated command"
    if row.expected == 200:
        assert response.json()["success"] is True
        assert response.json()["assessment"]["status"] == row.state
        return
    problem = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert problem["status"] == row.expected
    assert problem["detail"]
    assert problem.get("field") == row.field, problem
    if row.detail is not None:
        assert row.detail in problem["detail"]


def test_a_repeated_archive_keeps_the_first_reason(
    module_server: Server, module_accounts: Accounts
) -> None:
    row = archive("archive-repeated", {"reason": "again"}, 200, state="ARCHIVED")
    target = make_target(module_server, module_accounts, row)
    response = send(module_server, row, target)
    assert response.json()["assessment"]["archived_reason"] == "first"


def test_unknown_email_and_wrong_password_get_the_same_answer(module_server: Server) -> None:
    with module_server.client() as client:
        unknown = client.post(LOGIN, json={"email": "nobody@lfa.com", "password": "some-password"})
        wrong = client.post(LOGIN, json={"email": DEMO["admin"][0], "password": "some-password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.content == wrong.content
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"] == "Bearer"
    assert unknown.headers["content-type"] == wrong.headers["content-type"] == PROBLEM


def test_the_table_has_the_size_reported_in_the_issue_note() -> None:
    assert len({row.id for row in ROWS}) == len(ROWS)
    assert len(ROWS) == 88

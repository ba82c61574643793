"""Grading a training session in one request: each item its own command, one result each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from tests.e2e.conftest import DEMO, Server, event_count

SESSION = "/api/v1/sessions/assess"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def new_license(module_accounts: Accounts) -> Callable[[], int]:
    """Makes a fresh license of the demo student on each call."""
    return lambda: module_accounts.add_license(DEMO["student"][0])


def item(license_id: int, skill: str, earned: int, total: int = 10, **extra: Any) -> dict[str, Any]:
    return {
        "license_id": license_id,
        "skill": skill,
        "points_earned": earned,
        "points_total": total,
        **extra,
    }


def grade(server: Server, items: list[dict[str, Any]], role: str = "instructor") -> Any:
    with server.client() as client:
        return client.post(SESSION, json={"items": items}, headers=server.headers(role))


def test_each_item_answers_in_request_order_and_a_bad_item_sinks_no_other(
    module_server: Server, module_db: Database, new_license: Callable[[], int]
) -> None:
    first, second = new_license(), new_license()
    assert grade(module_server, [item(first, "dribbling", 6)]).status_code == 200
    before = event_count(module_db)
    items = [
        item(first, "passing", 7, notes="good first touch"),
        item(first, "dribbling", 6),  # identical to what is recorded
        item(9_999_999, "passing", 5),  # no such license
        item(second, "passing", 11),  # more points than the total
        item(second, "not_a_skill", 5),
        item(first, "dribbling", 8),  # replaces the active one
        item(second, "shooting", 3, 4),
    ]
    response = grade(module_server, items)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [201, 200, 404, 400, 404, 201, 201]
    assert [r.get("created") for r in results] == [True, False, None, None, None, True, True]
    assert results[3]["problem"]["field"] == "points_earned"
    assert results[0]["assessment"]["notes"] == "good first touch"
    assert results[5]["assessment"]["points_earned"] == 8
    # Three new assessments, and the replaced one archived.
    assert event_count(module_db) == before + 4
    with module_server.client() as client:
        for result in results:
            if result["status"] in (200, 201):
                found = client.get(
                    f"/api/v1/assessments/{result['assessment']['id']}",
                    headers=module_server.headers("instructor"),
                )
                assert found.status_code == 200
                if result["index"] != 1:  # item 5 replaced it later in the same session
                    assert found.json() == result["assessment"]
        history = client.get(
            f"/api/v1/licenses/{first}/skills/dribbling/assessments",
            headers=module_server.headers("instructor"),
        ).json()
    assert [row["status"] for row in history] == ["ASSESSED", "ARCHIVED"]


def test_a_refused_item_carries_the_problem_the_single_command_answers(
    module_server: Server, new_license: Callable[[], int]
) -> None:
    license_id = new_license()
    cases = [
        item(9_999_998, "passing", 5),
        item(license_id, "passing", 11),
        item(license_id, "nope", 1),
    ]
    results = grade(module_server, cases).json()["results"]
    with module_server.client() as client:
        for case, result in zip(cases, results, strict=True):
            single = client.post(
                f"/api/v1/licenses/{case['license_id']}/skills/{case['skill']}/assess",
                json={"points_earned": case["points_earned"], "points_total": 10},
                headers=module_server.headers("instructor"),
            )
            assert single.headers["content-type"] == PROBLEM
            assert result["status"] == single.status_code
            assert result["problem"] == single.json()


def test_the_same_pair_twice_in_a_session_is_graded_in_order(
    module_server: Server, new_license: Callable[[], int]
) -> None:
    license_id = new_license()
    items = [
        item(license_id, "heading", 5),
        item(license_id, "heading", 5),
        item(license_id, "heading", 9),
    ]
    results = grade(module_server, items, role="admin").json()["results"]
    assert [r["status"] for r in results] == [201, 200, 201]
    assert results[1]["assessment"]["id"] == results[0]["assessment"]["id"]
    assert results[2]["assessment"]["points_earned"] == 9


def test_a_full_session_of_200_items_is_recorded_and_readable(
    module_server: Server, module_db: Database, new_license: Callable[[], int]
) -> None:
    licenses = [new_license() for _ in range(20)]
    skills = ["passing", "dribbling", "shooting", "heading", "ball_control"]
    items = [
        item(lic, skill, (n % 10) + 1)
        for n, (lic, skill) in enumerate((lic, skill) for lic in licenses for skill in skills * 2)
    ]
    assert len(items) == 200
    before = event_count(module_db)
    results = grade(module_server, items, role="admin").json()["results"]
    assert {r["status"] for r in results[:100]} == {201}
    assert event_count(module_db) > before + 100
    with module_server.client() as client:
        last = results[-1]["assessment"]["id"]
        assert (
            client.get(
                f"/api/v1/assessments/{last}", headers=module_server.headers("admin")
            ).status_code
            == 200
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": "x"}, "items"),
        (
            {"items": [{"license_id": 1, "skill": "passing", "points_earned": 1}]},
            "items[0].points_total",
        ),
        ({"items": [{**item(1, "passing", 1), "extra": 1}]}, "items[0].extra"),
        ({"items": [item(1, "passing", "7")]}, "items[0].points_earned"),
        ({"items": [item(1, "passing", 1)], "more": True}, "more"),
    ],
)
def test_an_invalid_envelope_is_refused_whole_with_400_naming_the_field(
    module_server: Server, module_db: Database, body: dict[str, Any], field: str
) -> None:
    before = event_count(module_db)
    with module_server.client() as client:
        response = client.post(SESSION, json=body, headers=module_server.headers("instructor"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field
    assert event_count(module_db) == before


def test_more_than_200_items_or_a_body_over_1_mib_is_413(
    module_server: Server, module_db: Database
) -> None:
    before = event_count(module_db)
    too_many = grade(module_server, [item(1, "passing", 1)] * 201)
    assert too_many.status_code == 413
    assert "200" in too_many.json()["detail"]
    huge = [item(1, "passing", 1, notes="n" * 2000)] * 200
    with module_server.client() as client:
        content = b'{"items": [' + b",".join([b'{"license_id": 1}'] * 70_000) + b"]}"
        assert len(content) > 1024 * 1024
        too_big = client.post(
            SESSION,
            content=content,
            headers={**module_server.headers("instructor"), "content-type": "application/json"},
        )
    assert too_big.status_code == 413
    assert len(huge) == 200
    assert event_count(module_db) == before


def test_students_and_auditors_may_not_grade_a_session(module_server: Server) -> None:
    for role in ("student", "auditor"):
        response = grade(module_server, [item(1, "passing", 1)], role=role)
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM

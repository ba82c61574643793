"""The seed's Phase 3 smoke tests, over HTTP against a running server on PostgreSQL."""

from __future__ import annotations

import threading

import psycopg

from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import Server

ASSESS = "/api/v1/licenses/1/skills/ball_control/assess"
HISTORY = "/api/v1/licenses/1/skills/ball_control/assessments"
BODY = {"points_earned": 9, "points_total": 10, "notes": "Production deployment smoke test"}


def test_seed_smoke_sequence_create_repeat_validate_history(server: Server) -> None:
    with server.client() as client:
        created = client.post(ASSESS, json=BODY, headers=server.headers("instructor"))
        repeated = client.post(ASSESS, json=BODY, headers=server.headers("instructor"))
        assessment_id = created.json()["assessment"]["id"]
        validated = client.post(
            f"/api/v1/assessments/{assessment_id}/validate", headers=server.headers("admin")
        )
        history = client.get(HISTORY, headers=server.headers("instructor"))

    assert created.status_code == 201
    assert created.json()["success"] is True
    assert created.json()["created"] is True
    assert created.json()["assessment"]["status"] == "ASSESSED"
    assert repeated.status_code == 200
    assert repeated.json()["created"] is False
    assert repeated.json()["message"] == "Identical assessment already exists"
    assert repeated.json()["assessment"]["id"] == assessment_id
    assert validated.status_code == 200
    assert validated.json()["success"] is True
    assert validated.json()["assessment"]["status"] == "VALIDATED"
    assert history.status_code == 200
    assert [(row["id"], row["status"]) for row in history.json()] == [(assessment_id, "VALIDATED")]


def test_a_get_right_after_a_command_sees_it(server: Server) -> None:
    with server.client() as client:
        for points in range(1, 8):
            response = client.post(
                ASSESS,
                json={"points_earned": points, "points_total": 10},
                headers=server.headers("admin"),
            )
            assessment_id = response.json()["assessment"]["id"]
            one = client.get(
                f"/api/v1/assessments/{assessment_id}", headers=server.headers("auditor")
            )
            history = client.get(HISTORY, headers=server.headers("auditor"))
            assert one.status_code == 200
            assert one.json()["points_earned"] == points
            assert history.json()[0]["id"] == assessment_id
            assert history.json()[0]["status"] == "ASSESSED"


def test_two_simultaneous_identical_assesses_give_one_201_and_one_identical(server: Server) -> None:
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []

    def send() -> None:
        with server.client() as client:
            barrier.wait()
            response = client.post(
                "/api/v1/licenses/1/skills/passing/assess",
                json={"points_earned": 7, "points_total": 10},
                headers=server.headers("instructor"),
            )
            results.append((response.status_code, response.json()["created"]))

    server.token("instructor")
    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [(200, False), (201, True)]


def database_sessions(url: DatabaseURL) -> int:
    """Sessions ever opened to this database (pg_stat_database counts them at connect)."""
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_health_is_healthy_with_its_database(server: Server) -> None:
    with server.client() as client:
        response = client.get("/health")
        before = database_sessions(server.database)
        again = [client.get("/health") for _ in range(40)]
    opened = database_sessions(server.database) - before

    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert set(response.json()["projector"]) == {"position", "head", "lag_events"}
    assert {answer.status_code for answer in again} == {200}
    assert opened < 10, f"40 health checks opened {opened} sessions: use the pool"

"""Over HTTP: no 2xx the read side does not show; a stalled projector answers 503, never 500."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import DEMO_EVENTS, Server, ledger_executable

PAIR = "/api/v1/licenses/1/skills/{skill}"
WAIT = 30.0  # bound on polling; the tests go on as soon as the condition holds
CLIENTS, COMMANDS = 12, 25


def assess(server: Server, client: httpx.Client, skill: str, points: int) -> httpx.Response:
    return client.post(
        f"{PAIR.format(skill=skill)}/assess",
        json={"points_earned": points, "points_total": 10},
        headers=server.headers("instructor"),
    )


def recorded_assessment_ids(url: DatabaseURL) -> list[str]:
    """The assessment ids the SQLite event store holds, in log order."""
    with sqlite3.connect(url.path) as conn:
        rows = conn.execute(
            "SELECT state FROM stored_events WHERE topic LIKE '%.Assessed' ORDER BY rowid"
        ).fetchall()
    return [json.loads(row[0])["assessment_id"] for row in rows]


def start_projector(url: DatabaseURL, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [ledger_executable(), "project"],
            env={**os.environ, "LEDGER_DATABASE_URL": url.url()},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def retried(command: Callable[[], httpx.Response]) -> httpx.Response:
    """Send the same command again while it answers 503, as Retry-After invites (bounded)."""
    deadline = time.monotonic() + WAIT
    answer = command()
    while answer.status_code == 503 and time.monotonic() < deadline:
        time.sleep(min(float(answer.headers.get("retry-after", 1)), 1.0))
        answer = command()
    return answer


def test_without_a_projector_commands_answer_503_and_succeed_once_it_runs(
    sqlite_url: DatabaseURL, launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = launch(sqlite_url, {"LEDGER_PROJECTION_WAIT_SECONDS": "1"}, "--no-projector")
    with server.client() as client:
        first = assess(server, client, "passing", 9)
        history = client.get(
            f"{PAIR.format(skill='passing')}/assessments", headers=server.headers("instructor")
        )
        (assessment_id,) = recorded_assessment_ids(sqlite_url)
        early_validate = client.post(
            f"/api/v1/assessments/{assessment_id}/validate", headers=server.headers("admin")
        )
        projector = start_projector(sqlite_url, tmp_path / "projector.log")
        try:
            again = retried(lambda: assess(server, client, "passing", 9))
            got = client.get(
                f"/api/v1/assessments/{assessment_id}", headers=server.headers("admin")
            )
            validated = client.post(
                f"/api/v1/assessments/{assessment_id}/validate", headers=server.headers("admin")
            )
        finally:
            projector.terminate()
            projector.wait(10)

    assert first.status_code == 503
    assert first.headers["content-type"].startswith("application/problem+json")
    assert first.json()["type"] == "/problems/not-yet-visible"
    assert int(first.headers["retry-after"]) >= 1
    assert history.json() == []
    assert early_validate.status_code == 503, "recorded but not projected is not 'not found'"
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["assessment"]["id"] == assessment_id
    assert got.status_code == 200
    assert validated.status_code == 200
    assert validated.json()["assessment"]["status"] == "VALIDATED"


def test_with_two_workers_every_answer_to_concurrent_identical_assesses_is_readable(
    sqlite_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    server = launch(sqlite_url, None, "--workers", "2")
    headers = server.headers("instructor")
    statuses: list[int] = []
    unreadable: list[str] = []
    lock = threading.Lock()

    def client_commands(index: int, start: threading.Barrier) -> None:
        with server.client() as client:
            start.wait(WAIT)
            for command in range(COMMANDS):
                answer = assess(server, client, "dribbling", (command // 2 + index % 2) % 10)
                found = None
                if answer.status_code in (200, 201):
                    assessment_id = answer.json()["assessment"]["id"]
                    found = client.get(f"/api/v1/assessments/{assessment_id}", headers=headers)
                with lock:
                    statuses.append(answer.status_code)
                    if found is not None and found.status_code != 200:
                        unreadable.append(f"{answer.status_code} then {found.status_code}")

    start = threading.Barrier(CLIENTS)
    threads = [
        threading.Thread(target=client_commands, args=(index, start)) for index in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unreadable == []
    assert {200, 201} <= set(statuses) <= {200, 201, 409}  # 409: lost every retry, try again


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_row_deleted_by_hand_stalls_the_projector_loudly_and_a_rebuild_repairs_it(
    server: Server,
) -> None:
    with server.client() as client:
        first = assess(server, client, "ball_control", 5)
        with psycopg.connect(server.database.conninfo(), autocommit=True) as conn:
            conn.execute(
                "DELETE FROM football_skill_assessments WHERE id = %s",
                (first.json()["assessment"]["id"],),
            )
            replaced = assess(server, client, "ball_control", 6)
            later = [assess(server, client, s, 7) for s in ("passing", "heading", "vision")]
            stored = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
        health = client.get("/health")
        metrics = client.get("/metrics").text
        rebuilt = subprocess.run(
            [ledger_executable(), "projection", "rebuild"],
            env={**os.environ, "LEDGER_DATABASE_URL": server.database.url()},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        healthy = eventually(lambda: client.get("/health").json()["status"] == "healthy")
        after = assess(server, client, "shooting", 8)
        after_id = after.json()["assessment"]["id"]
        readable = client.get(f"/api/v1/assessments/{after_id}", headers=server.headers("admin"))

    assert first.status_code == 201
    assert replaced.status_code == 503, replaced.text
    assert replaced.json()["type"] == "/problems/projection-stalled"
    assert "ledger projection rebuild" in replaced.json()["detail"]
    assert int(replaced.headers["retry-after"]) >= 1
    assert stored == (DEMO_EVENTS + 3 + 3,), "both events of the replacement and the later commands"
    assert [r.status_code for r in later] == [503, 503, 503]
    assert {r.json()["type"] for r in later} == {"/problems/projection-stalled"}
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["projector"]["stalled_at"] == DEMO_EVENTS + 2
    assert "ledger projection rebuild" in health.json()["detail"]
    assert "ledger_projector_stalled 1.0" in metrics
    assert "ledger_projection_failures_total" in metrics
    stalled_lines = [line for line in server.logs().splitlines() if "PROJECTION STALLED" in line]
    assert len(stalled_lines) == 1, stalled_lines
    assert f"position {DEMO_EVENTS + 2}" in stalled_lines[0]
    assert "Archived version 2" in stalled_lines[0]
    assert "ledger projection rebuild" in stalled_lines[0]
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert healthy
    assert after.status_code == 201
    assert readable.status_code == 200

"""Reads on a real streaming hot standby: read-your-writes through the replica under load, replay
paused (reads wait, then fall back to the primary), the standby stopped (reads go to the primary).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from skill_ledger import migrate as schema
from skill_ledger.ports import NullObserver
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL
from tests.conftest import REQUIRE_POSTGRES, seed_cast
from tests.e2e.conftest import Server, ledger_executable
from tests.e2e.replication import ReplicatingCluster, primary_and_standby

WRITERS = 4
COMMANDS_PER_WRITER = 25
READ_WAIT_SECONDS = 1.0


def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll until the condition holds; False when the timeout passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class Routes(NullObserver):
    """Counts which database served each read, and why."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def read_routed(self, target: str, outcome: str) -> None:
        with self._lock:
            self.counts[("replica" if target != "primary" else "primary", outcome)] += 1

    def served(self, target: str, outcome: str) -> int:
        return self.counts[(target, outcome)]


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[ReplicatingCluster, ReplicatingCluster, DatabaseURL]]:
    """A private primary and hot standby with a migrated ledger database."""
    try:
        with primary_and_standby() as (primary, standby):
            url = primary.create_database("ledger")
            schema.upgrade(url)
            standby.wait_for_table("ledger", "projection_tracking")
            yield primary, standby, url
    except RuntimeError as e:  # no server binaries here
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(str(e))


@pytest.fixture
def replica_services(
    replicated: tuple[ReplicatingCluster, ReplicatingCluster, DatabaseURL],
    open_services: Callable[..., Services],
) -> tuple[Services, Routes, ReplicatingCluster]:
    """Services on the primary reading from the standby, the projector running in-process."""
    _, standby, url = replicated
    routes = Routes()
    services = open_services(
        url,
        observer=routes,
        read_databases=(standby.url("ledger"),),
        read_wait_seconds=READ_WAIT_SECONDS,
    )
    services.start_projector()
    return services, routes, standby


def test_reads_with_the_commands_token_see_the_command_through_the_replica_under_load(
    replica_services: tuple[Services, Routes, ReplicatingCluster],
) -> None:
    services, routes, _ = replica_services
    cast = seed_cast(services)
    stale: list[str] = []

    def writer(index: int) -> None:
        skill = DEFAULT_SKILLS[index]
        for points in range(1, COMMANDS_PER_WRITER + 1):
            answer = services.assessments.assess(
                cast.instructor, cast.license_id, skill, points % 11, 10, f"load {points}"
            )
            token = answer.position
            row = services.assessments.get(cast.admin, answer.assessment.id, token=token)
            history = services.assessments.history(cast.admin, cast.license_id, skill, token=token)
            if row.points_earned != points % 11 or history[0].id != answer.assessment.id:
                stale.append(f"{skill} {points}: read {row.points_earned}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    reads = sum(routes.counts.values())
    print(
        f"\nread-your-writes through the replica: {WRITERS * COMMANDS_PER_WRITER} commands, "
        f"{reads} reads in {seconds:.1f} s; served: {dict(routes.counts)}"
    )

    assert stale == []
    assert reads == 2 * WRITERS * COMMANDS_PER_WRITER
    assert routes.served("replica", "caught_up") > reads // 2, "the replica serves most reads"


def test_paused_replay_makes_reads_wait_then_fall_back_to_the_primary(
    replica_services: tuple[Services, Routes, ReplicatingCluster],
) -> None:
    services, routes, standby = replica_services
    cast = seed_cast(services)
    first = services.assessments.assess(cast.instructor, cast.license_id, "passing", 3, 10, "")
    services.assessments.get(cast.admin, first.assessment.id, token=first.position)
    standby.sql("SELECT pg_wal_replay_pause()")
    try:
        answer = services.assessments.assess(
            cast.instructor, cast.license_id, "passing", 7, 10, "after the pause"
        )
        asked = time.monotonic()
        row = services.assessments.get(cast.admin, answer.assessment.id, token=answer.position)
        waited = time.monotonic() - asked
        untokened = services.assessments.get(cast.admin, first.assessment.id)
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")

    assert row.points_earned == 7, "the primary answered what the paused replica lacks"
    assert waited >= READ_WAIT_SECONDS * 0.9, "the read waited for the replica first"
    assert routes.served("primary", "lagging") == 1
    assert untokened.id == first.assessment.id, "a read without a token may use the replica"


def test_a_stopped_standby_sends_reads_to_the_primary_without_errors(
    replica_services: tuple[Services, Routes, ReplicatingCluster],
) -> None:
    services, routes, standby = replica_services
    cast = seed_cast(services)
    standby.stop("fast")
    try:
        answers = [
            services.assessments.assess(cast.instructor, cast.license_id, skill, 5, 10, "")
            for skill in DEFAULT_SKILLS[:5]
        ]
        rows = [
            services.assessments.get(cast.admin, a.assessment.id, token=a.position) for a in answers
        ]
        events = services.assessments.events(
            cast.auditor, cast.license_id, DEFAULT_SKILLS[0], token=answers[0].position
        )
    finally:
        standby.start()
    down = dict(routes.counts)

    def served_by_replica() -> bool:
        services.assessments.get(cast.admin, answers[0].assessment.id, token=answers[-1].position)
        return routes.served("replica", "caught_up") > 0

    assert [row.points_earned for row in rows] == [5] * 5
    assert [e.version for e in events] == [1]
    assert down == {("primary", "down"): 6}
    assert eventually(served_by_replica), "the restarted standby serves reads again"


def test_a_token_from_one_api_node_gives_a_read_on_another_node_the_command(
    replicated: tuple[ReplicatingCluster, ReplicatingCluster, DatabaseURL],
    launch: Callable[..., Server],
) -> None:
    _, standby, url = replicated
    env = {"LEDGER_READ_DATABASE_URL": standby.url("ledger").url()}
    writer = launch(url, env)
    reader = launch(url, env, demo=False)
    pair = "/api/v1/licenses/1/skills/dribbling"
    with writer.client() as a, reader.client() as b:
        answers = [
            a.post(
                f"{pair}/assess",
                json={"points_earned": points, "points_total": 10},
                headers=writer.headers("instructor"),
            )
            for points in (2, 6)
        ]
        token = answers[-1].headers["X-Ledger-Position"]
        history = b.get(
            f"{pair}/assessments", headers={**reader.headers("admin"), "X-Ledger-Position": token}
        )
        refused = b.get(
            f"{pair}/assessments", headers={**reader.headers("admin"), "X-Ledger-Position": "x"}
        )
        metrics = b.get("/metrics").text

    assert [answer.status_code for answer in answers] == [201, 201]
    assert int(answers[0].headers["X-Ledger-Position"]) < int(token)
    assert history.status_code == 200
    assert history.json()[0]["points_earned"] == 6, "the other node's read shows the command"
    assert refused.status_code == 400
    assert refused.json()["field"] == "X-Ledger-Position"
    assert f'ledger_reads_total{{outcome="caught_up",target="{standby.url().host}:' in metrics


def test_account_commands_answer_with_a_token_that_reads_accept(server: Server) -> None:
    with server.client() as client:
        created = client.post(
            "/api/v1/users",
            json={
                "email": "token-holder@academy.test",
                "name": "Token Holder",
                "role": "student",
                "password": "a-long-enough-password",
            },
            headers=server.headers("admin"),
        )
        token = created.headers.get("X-Ledger-Position", "")
        events = client.get(
            f"/api/v1/users/{created.json()['user']['id']}/events",
            headers={**server.headers("auditor"), "X-Ledger-Position": token},
        )

    assert created.status_code == 201
    assert token.isdigit()
    assert events.status_code == 200
    assert [event["version"] for event in events.json()] == [1]


def test_ledger_report_reads_a_standby_and_the_primary_when_it_is_down(
    replica_services: tuple[Services, Routes, ReplicatingCluster],
) -> None:
    services, _, standby = replica_services
    cast = seed_cast(services)
    answer = services.assessments.assess(cast.instructor, cast.license_id, "heading", 6, 10, "")
    services.assessments.get(cast.admin, answer.assessment.id, token=answer.position)  # replayed
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": services.settings.database.url(),
        "LEDGER_READ_DATABASE_URL": standby.url("ledger").url(),
    }
    command = [ledger_executable(), "report", "state_distribution", "--format", "json"]
    from_standby = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    standby.stop("fast")
    try:
        from_primary = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    finally:
        standby.start()

    assert from_standby.returncode == 0, from_standby.stderr
    assert from_standby.stderr == ""
    assert from_primary.returncode == 0, from_primary.stderr
    assert "unavailable" in from_primary.stderr
    assert from_standby.stdout == from_primary.stdout

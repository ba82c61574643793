"""Faults: kill -9 the projector mid-catch-up, restart PostgreSQL under load, kill -9 the API.

Each test prints its recovery figures (`pytest -s`); docs/reliability.md records the latest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from skill_ledger import migrate as schema
from skill_ledger.domain import Actor, Assessment, SkillRecord, fold
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL
from tests.conftest import Cast, seed_cast
from tests.e2e.conftest import Server, ledger_executable
from tests.e2e.ledger_state import (
    all_events,
    log_failures,
    stream_defects,
    table_and_fold,
    wait_projected,
)
from tests.e2e.private_postgres import PrivateCluster, private_cluster

WAIT = 30.0  # bound on every wait; the tests go on as soon as the condition holds
BACKLOG_EVENTS = 20_000
EVENTS_PER_PAIR = 25  # 12 replacements (2 events each) after a first assessment
PROJECTOR_BATCH = "200"
DOWN_SECONDS = 3.0
QUICK_ANSWER_SECONDS = 2.0
RECOVERY_SECONDS = 10.0


def eventually(condition: Callable[[], bool], timeout: float = WAIT, step: float = 0.01) -> bool:
    """Poll until the condition holds; False when the timeout passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# -- kill -9 the standalone projector in the middle of a catch-up ---------------------------------


def record_backlog(services: Services, cast: Cast, events: int) -> None:
    """Write `events` events through the application quickly: many records per transaction."""
    pairs_needed = events // EVENTS_PER_PAIR
    licenses = [cast.license_id]
    while len(licenses) * len(DEFAULT_SKILLS) < pairs_needed:
        licenses.append(services.accounts.add_license(cast.student_email))
    pairs = [(lic, skill) for lic in licenses for skill in DEFAULT_SKILLS][:pairs_needed]
    for start in range(0, len(pairs), 40):
        records = [
            history_of(services, cast.instructor, *pair) for pair in pairs[start : start + 40]
        ]
        services.ledger.save(*records)


def history_of(services: Services, instructor: Actor, license_id: int, skill: str) -> SkillRecord:
    """A record with a first assessment and twelve replacements (25 events)."""
    record = services.ledger.record(license_id, skill)
    for step in range((EVENTS_PER_PAIR + 1) // 2):
        record.assess(instructor, step % 10, 10, f"backlog {step}", step == 0, uuid4())
    return record


def start_projector(url: DatabaseURL, log: Path) -> subprocess.Popen[bytes]:
    """`ledger project` (the standalone projector) as its own process, small batches."""
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url.url(),
        "LEDGER_PROJECTION_BATCH": PROJECTOR_BATCH,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [ledger_executable(), "project"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def fold_upto(services: Services, position: int) -> dict[UUID, Assessment]:
    """The fold of the log up to a position: what the table must hold once it got that far."""
    with services.db.transaction(write=False) as cursor:
        logged = services.eventlog.read(cursor, 0, 1_000_000, upto=position)
    return fold({}, [services.eventlog.decode(item) for item in logged])


def test_projector_killed_mid_catch_up_resumes_to_the_table_a_rebuild_gives(
    postgres_url: DatabaseURL, open_services: Callable[..., Services], tmp_path: Path
) -> None:
    services = open_services(postgres_url)
    record_backlog(services, seed_cast(services), BACKLOG_EVENTS)
    head = services.projector.status().head
    log = tmp_path / "projector.log"

    first = start_projector(postgres_url, log)
    try:
        assert eventually(lambda: services.projector.tracked_position() > head // 4)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=WAIT)
    finally:
        first.kill()
    at_kill = services.projector.tracked_position()
    table_at_kill = services.readmodel.all()

    restarted = time.monotonic()
    second = start_projector(postgres_url, log)
    try:
        caught_up = eventually(lambda: services.projector.tracked_position() == head, step=0.05)
        recovery = time.monotonic() - restarted
    finally:
        second.terminate()
        second.wait(timeout=WAIT)
    table, folded = table_and_fold(services)
    rebuild = services.projector.rebuild()
    print(
        f"\nprojector kill -9: backlog {head} events, killed at position {at_kill}; "
        f"restarted process caught up in {recovery:.1f} s; rebuild {rebuild.seconds:.1f} s"
    )

    assert head >= BACKLOG_EVENTS
    assert 0 < at_kill < head, "the kill must land in the middle of the catch-up"
    assert first.returncode == -signal.SIGKILL
    assert table_at_kill == fold_upto(services, at_kill), "a batch is all or nothing"
    assert caught_up
    assert table == folded
    assert services.readmodel.all() == table, "the resumed table is the one a rebuild gives"
    assert log_failures(log.read_text(errors="replace")) == []


# -- restart PostgreSQL while clients keep sending commands ---------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request of the load: when it was sent, how long its answer took, what it was."""

    sent_at: float
    seconds: float
    status: int
    assessment_id: str | None


@dataclass
class Load:
    """Clients assessing their own pairs in a loop (each assess a replacement) until stopped."""

    server: Server
    clients: int
    license_id: int = 1
    answers: list[Sent] = field(default_factory=list)
    in_flight: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=WAIT)

    def acknowledged(self) -> int:
        with self._lock:
            return sum(200 <= a.status < 300 for a in self.answers)

    def _client(self, number: int) -> None:
        path = f"/api/v1/licenses/{self.license_id}/skills/{DEFAULT_SKILLS[number]}/assess"
        headers = self.server.headers("instructor")
        with httpx.Client(base_url=self.server.base_url, timeout=WAIT) as client:
            for step in range(100_000):  # bounded; stop ends it long before
                if self.stop.is_set():
                    return
                with self._lock:
                    self.in_flight += 1
                sent_at = time.monotonic()
                try:
                    response = client.post(
                        path, json={"points_earned": step % 10, "points_total": 10}, headers=headers
                    )
                except httpx.TransportError:
                    with self._lock:
                        self.in_flight -= 1
                    return  # the server is gone
                answer = Sent(
                    sent_at,
                    time.monotonic() - sent_at,
                    response.status_code,
                    response.json().get("assessment", {}).get("id"),
                )
                with self._lock:
                    self.in_flight -= 1
                    self.answers.append(answer)
                if response.status_code >= 300:
                    time.sleep(0.02)  # a client backing off, not a busy loop against a 503


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster this test may stop and start."""
    with private_cluster() as private:
        yield private


def test_postgres_restart_under_load_answers_503_fast_and_recovers_losing_nothing(
    cluster: PrivateCluster, launch: Callable[..., Server], open_services: Callable[..., Services]
) -> None:
    url = cluster.create_database("ledger")
    schema.upgrade(url)
    server = launch(url)
    load = Load(server, clients=4)
    load.start()
    try:
        assert eventually(lambda: load.acknowledged() >= 20)
        went_down = time.monotonic()
        cluster.stop("fast")
        stopped = time.monotonic()
        time.sleep(DOWN_SECONDS)
        health_while_down = httpx.get(f"{server.base_url}/health", timeout=WAIT).status_code
        came_up = time.monotonic()
        cluster.start()
        started = time.monotonic()

        def recovered() -> bool:
            return any(a.sent_at >= started and a.status < 300 for a in list(load.answers))

        assert eventually(recovered, timeout=RECOVERY_SECONDS + 5)
        recovered_at = min(
            a.sent_at + a.seconds for a in load.answers if a.sent_at >= started and a.status < 300
        )
        acked_before_stop = load.acknowledged()
        assert eventually(lambda: load.acknowledged() >= acked_before_stop + 20)
    finally:
        load.finish()

    services = open_services(url)
    position, head = wait_projected(services, timeout=WAIT)
    events = all_events(services)
    assessed = {str(e.assessment_id) for e in events if isinstance(e, SkillRecord.Assessed)}
    acked = {a.assessment_id for a in load.answers if a.status == 201}
    down = [a for a in load.answers if stopped <= a.sent_at <= came_up]
    slowest = max(a.seconds for a in load.answers)
    recovery = recovered_at - started
    print(
        f"\npostgres restart: down {came_up - went_down:.1f} s, {len(down)} answers while down "
        f"({sorted({a.status for a in down})}), slowest answer {slowest:.2f} s, "
        f"first 2xx {recovery:.2f} s after PostgreSQL was up; "
        f"{len(acked)} acknowledged assessments, projection {position}/{head}"
    )

    assert {a.status for a in load.answers} <= {200, 201, 503}
    assert down, "requests were answered while PostgreSQL was down"
    assert {a.status for a in down} == {503}
    assert health_while_down == 503
    assert slowest <= QUICK_ANSWER_SECONDS, "no request may hang while the database is down"
    assert recovery <= RECOVERY_SECONDS
    assert acked <= assessed, "no acknowledged command is lost"
    assert position == head, "the in-process projector resumed by itself"
    table, folded = table_and_fold(services)
    assert table == folded
    assert log_failures(server.logs()) == []
    assert "status=500" not in server.logs(), "the access log records the 503s as sent"


# -- kill -9 the API while commands are in flight --------------------------------------------------


def test_api_killed_mid_command_leaves_each_replacement_whole_or_absent(
    postgres_url: DatabaseURL, launch: Callable[..., Server], open_services: Callable[..., Services]
) -> None:
    server = launch(postgres_url)
    load = Load(server, clients=6)
    load.start()
    try:
        assert eventually(lambda: load.acknowledged() >= 150)
        in_flight = load.in_flight
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=WAIT)
    finally:
        load.finish()

    services = open_services(postgres_url)
    events = all_events(services)
    assessed = {str(e.assessment_id) for e in events if isinstance(e, SkillRecord.Assessed)}
    acked = {a.assessment_id for a in load.answers if a.status == 201}
    restarted = time.monotonic()
    again = launch(postgres_url)
    position, head = wait_projected(services, timeout=WAIT)
    recovery = time.monotonic() - restarted
    print(
        f"\napi kill -9: {in_flight} commands in flight, {len(acked)} acknowledged, "
        f"{len(events)} events; restarted server healthy and projected in {recovery:.1f} s"
    )

    assert in_flight > 0, "the kill must land while commands are in flight"
    assert server.process.returncode == -signal.SIGKILL
    assert stream_defects(events) == []
    assert acked <= assessed
    assert position == head
    table, folded = table_and_fold(services)
    assert table == folded
    assert log_failures(again.logs()) == []

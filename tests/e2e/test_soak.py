"""Concurrency soak: many HTTP clients issue mixed commands on a few hot pairs of one server.

`make test` runs it small (8 clients × 100 commands); `make stress` runs 32 × 2,000 by setting
LEDGER_SOAK_CLIENTS and LEDGER_SOAK_COMMANDS. Afterwards every acknowledged command is in the
event store, the read table is the fold of the log, and no 5xx was answered; during the run a
sampler saw at most one active assessment per pair.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from skill_ledger.domain import SkillRecord
from skill_ledger.services import Services
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL
from tests.e2e.conftest import DEMO, Server
from tests.e2e.ledger_state import (
    all_events,
    is_replaced,
    log_failures,
    max_active_per_pair,
    table_and_fold,
    wait_projected,
)

CLIENTS = int(os.environ.get("LEDGER_SOAK_CLIENTS", "8"))
COMMANDS = int(os.environ.get("LEDGER_SOAK_COMMANDS", "100"))
LICENSES = 10
SKILLS = DEFAULT_SKILLS[:5]
SAMPLE_SECONDS = 0.05
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Pair = tuple[int, str]


@dataclass(frozen=True)
class Answer:
    """One command sent and the answer it got."""

    command: str
    pair: Pair
    status: int
    body: dict[str, Any]

    @property
    def assessment(self) -> dict[str, Any]:
        """The assessment a 2xx answer carries."""
        found: dict[str, Any] = self.body["assessment"]
        return found

    def reason(self) -> str:
        """A 4xx answer's problem type and detail, ids masked so reasons group."""
        detail = UUID_TEXT.sub("<id>", str(self.body.get("detail", "")))
        return f"{self.status} {self.body.get('type', '?')}: {detail}"


@dataclass
class Known:
    """What the clients have learned about each pair: its latest assessment (shared, locked)."""

    latest: dict[Pair, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def learn(self, pair: Pair, assessment: dict[str, Any]) -> None:
        with self.lock:
            self.latest[pair] = assessment

    def get(self, pair: Pair) -> dict[str, Any] | None:
        with self.lock:
            return self.latest.get(pair)


@dataclass
class Soak:
    """The run's setting: server, tokens, pairs and the shared knowledge."""

    server: Server
    pairs: list[Pair]
    known: Known = field(default_factory=Known)

    def run_client(self, number: int, commands: int) -> list[Answer]:
        """One client: `commands` mixed commands on random hot pairs, each answer recorded."""
        rng = random.Random(number)
        answers: list[Answer] = []
        with self.server.client() as client:
            for _ in range(commands):
                pair = rng.choice(self.pairs)
                command, method_path, body, role = self.choose(rng, pair)
                response = client.post(method_path, json=body, headers=self.server.headers(role))
                answer = Answer(command, pair, response.status_code, response.json())
                if 200 <= answer.status < 300:
                    self.known.learn(pair, answer.assessment)
                answers.append(answer)
        return answers

    def choose(self, rng: random.Random, pair: Pair) -> tuple[str, str, dict[str, Any] | None, str]:
        """(command, path, body, role): assess new or changed, repeat, validate or archive."""
        latest = self.known.get(pair)
        roll = rng.random()
        license_id, skill = pair
        assess = f"/api/v1/licenses/{license_id}/skills/{skill}/assess"
        assessor = "instructor" if rng.random() < 0.7 else "admin"
        if latest is None or roll < 0.45:
            points = {"points_earned": rng.randint(0, 10), "points_total": 10}
            return "assess", assess, {**points, "notes": f"soak {rng.random():.6f}"}, assessor
        if roll < 0.6:
            same = {k: latest[k] for k in ("points_earned", "points_total")}
            return "assess-identical", assess, same, assessor
        one = f"/api/v1/assessments/{latest['id']}"
        if roll < 0.85:
            return "validate", f"{one}/validate", None, "admin"
        return "archive", f"{one}/archive", {"reason": "soak archive"}, assessor


@contextmanager
def sampling(sample: Callable[[], int]) -> Iterator[list[int]]:
    """Call `sample` every SAMPLE_SECONDS in a thread while the block runs; yields the results."""
    seen: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            seen.append(sample())
            stop.wait(SAMPLE_SECONDS)

    thread = threading.Thread(target=loop, name="sampler")
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def hot_pairs(services: Services) -> list[Pair]:
    """Ten licenses of the demo student (license 1 and nine more) × five skills: 50 pairs."""
    student = DEMO["student"][0]
    licenses = [1] + [services.accounts.add_license(student) for _ in range(LICENSES - 1)]
    return [(license_id, skill) for license_id in licenses for skill in SKILLS]


def figures(answers: list[Answer], seconds: float) -> str:
    """The run in numbers: commands, 2xx, 4xx by reason, 5xx, duration, throughput."""
    by_class = Counter(answer.status // 100 for answer in answers)
    reasons = Counter(answer.reason() for answer in answers if 400 <= answer.status < 500)
    lines = [
        f"soak: {CLIENTS} clients × {COMMANDS} commands = {len(answers)} commands "
        f"in {seconds:.1f} s ({len(answers) / seconds:.0f} commands/s)",
        f"  2xx {by_class[2]} ({dict(Counter(a.status for a in answers if a.status < 300))}), "
        f"4xx {by_class[4]}, 5xx {by_class[5]}",
        *(f"  4xx × {count}: {reason}" for reason, count in reasons.most_common()),
    ]
    return "\n".join(lines)


def test_concurrent_mixed_commands_lose_nothing_and_the_table_stays_the_fold(
    server: Server, postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(postgres_url)
    soak = Soak(server, hot_pairs(services))
    for role in ("admin", "instructor"):
        server.token(role)

    started = time.monotonic()
    with (
        sampling(lambda: max_active_per_pair(services)) as samples,
        ThreadPoolExecutor(max_workers=CLIENTS) as pool,
    ):
        runs = [pool.submit(soak.run_client, number, COMMANDS) for number in range(CLIENTS)]
        answers = [answer for run in runs for answer in run.result()]
    seconds = time.monotonic() - started
    print("\n" + figures(answers, seconds))
    print(f"  max active per pair: {max(samples, default=0)} over {len(samples)} samples")

    position, head = wait_projected(services, timeout=30)
    events = all_events(services)
    assessed = {e.assessment_id for e in events if isinstance(e, SkillRecord.Assessed)}
    validated = {e.assessment_id for e in events if isinstance(e, SkillRecord.Validated)}
    archived = {e.assessment_id for e in events if isinstance(e, SkillRecord.Archived)}
    by_hand = {
        e.assessment_id
        for e in events
        if isinstance(e, SkillRecord.Archived) and not is_replaced(e)
    }
    ok = [answer for answer in answers if 200 <= answer.status < 300]

    def ids(command: str, status: int | None = None) -> set[UUID]:
        return {
            UUID(a.assessment["id"])
            for a in ok
            if a.command.startswith(command) and (status is None or a.status == status)
        }

    assert len(answers) == CLIENTS * COMMANDS
    assert [a for a in answers if a.status >= 500] == []
    assert ok, "the soak must acknowledge commands"
    created = [a for a in ok if a.status == 201]
    assert len(created) == len(assessed), "exactly one Assessed event per 201"
    assert ids("assess", 201) == assessed
    assert ids("assess", 200) <= assessed
    assert ids("validate") <= validated
    assert validated <= ids("validate")
    assert ids("archive") <= archived
    assert by_hand <= ids("archive")
    assert position == head
    table, folded = table_and_fold(services)
    assert table == folded
    assert samples, "the sampler must have run"
    assert max(samples) <= 1
    assert log_failures(server.logs()) == []

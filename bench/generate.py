"""A fast generator of valid ledger histories, bulk-loaded into ledger_events with COPY.

Events come from the real domain (SkillRecord commands, so hash chains and versions are intact)
and the real mapper (TypedMapper.to_stored_event), in the order they were decided, which
becomes notification order when COPY assigns notification_id.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent

from skill_ledger.domain import Actor, Outcome, Role, SkillRecord, Status
from skill_ledger.eventstore.transcoder import MsgspecTranscoder, TypedMapper
from skill_ledger.settings import DEFAULT_SKILLS, DatabaseURL

INSTRUCTORS = tuple(Actor(user_id, Role.INSTRUCTOR) for user_id in range(100, 140))
ADMINS = tuple(Actor(user_id, Role.ADMIN) for user_id in range(10, 14))
NOTES = (
    "",
    "Good first touch under pressure; keep the head up when receiving.",
    "Weak foot still hesitant.",
    "Consistent in drills, less so in small-sided games.",
    "Re-assessed after the winter block.",
)


@dataclass(frozen=True, slots=True)
class Mix:
    """What one generated command does to a pair that has an active assessment."""

    replace: float = 0.55
    validate: float = 0.25
    archive: float = 0.10
    # the rest: an identical repeat, which records nothing
    requires_validation: float = 0.2


@dataclass(frozen=True, slots=True)
class LoadedHistory:
    """How much was generated."""

    events: int
    pairs: int
    commands: int
    seconds: float


class Generator:
    """Decides commands on many (license, skill) records and yields their stored events."""

    def __init__(self, pairs: int, seed: int = 1, mix: Mix | None = None) -> None:
        self.random = random.Random(seed)
        self.mix = mix or Mix()
        self.pairs = [
            (1 + index // len(DEFAULT_SKILLS), DEFAULT_SKILLS[index % len(DEFAULT_SKILLS)])
            for index in range(pairs)
        ]
        self.records: dict[tuple[int, str], SkillRecord] = {}
        self.mapper = TypedMapper(transcoder=MsgspecTranscoder())
        self.commands = 0

    def _uuid(self) -> UUID:
        return UUID(int=self.random.getrandbits(128), version=4)

    def _assess(self, record: SkillRecord) -> None:
        points_total = self.random.choice((10, 20, 100))
        points_earned = self.random.randint(0, points_total)
        if record.active is not None and record.active.same_points(points_earned, points_total):
            points_earned = (points_earned + 1) % (points_total + 1)
        record.assess(
            self.random.choice(INSTRUCTORS),
            points_earned,
            points_total,
            self.random.choice(NOTES),
            self.random.random() < self.mix.requires_validation,
            self._uuid(),
        )

    def step(self) -> list[SkillRecord.Event]:
        """Decide one command on a random pair; its new events (none for a repeat)."""
        pair = self.random.choice(self.pairs)
        record = self.records.get(pair)
        if record is None:
            record = self.records[pair] = SkillRecord.start(*pair)
        self.commands += 1
        active = record.active
        roll = self.random.random()
        mix = self.mix
        if active is None or roll < mix.replace:
            self._assess(record)
        elif roll < mix.replace + mix.validate:
            if active.status is Status.ASSESSED:
                record.validate(self.random.choice(ADMINS), active.id)
            else:
                self._assess(record)
        elif roll < mix.replace + mix.validate + mix.archive:
            record.archive(self.random.choice(ADMINS), active.id, "Entered on the wrong license")
        else:
            outcome = record.assess(
                self.random.choice(INSTRUCTORS),
                active.points_earned,
                active.points_total,
                "",
                False,
                self._uuid(),
            )
            assert outcome is Outcome.IDENTICAL
        return record.collect_events()  # type: ignore[return-value]

    def stored_events(self, count: int) -> Iterator[StoredEvent]:
        """Exactly `count` stored events (the last command may be cut short)."""
        produced = 0
        while produced < count:
            for event in self.step():
                yield self.mapper.to_stored_event(event)
                produced += 1
                if produced == count:
                    return


def load(url: DatabaseURL, generator: Generator, count: int) -> LoadedHistory:
    """COPY the generator's next `count` events into ledger_events (notification order)."""
    started = time.perf_counter()
    with psycopg.connect(url.conninfo()) as conn, conn.cursor() as cursor:
        copy_sql = (
            "COPY ledger_events (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        )
        with cursor.copy(copy_sql) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for stored in generator.stored_events(count):
                copy.write_row(
                    (
                        stored.originator_id,
                        stored.originator_version,
                        stored.topic,
                        stored.state,
                    )
                )
    return LoadedHistory(
        events=count,
        pairs=len(generator.records),
        commands=generator.commands,
        seconds=time.perf_counter() - started,
    )

"""Disputes racing other commands from two processes (each with its own cache): exactly one
outcome per the rules, nothing lost, every loser a named error."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from skill_ledger.application import CommandResult
from skill_ledger.domain import (
    DisputeOutcome,
    DisputeRefused,
    InvalidTransition,
    LedgerError,
    Outcome,
    SkillRecord,
    Status,
)
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import Cast, seed_cast
from tests.integration.test_concurrency import all_at_once

SKILL = "passing"
ROUNDS = 6


def attempt(command: Callable[[], CommandResult]) -> Callable[[], CommandResult | LedgerError]:
    """The command's result, or the named error it was refused with (anything else raises)."""

    def run() -> CommandResult | LedgerError:
        try:
            return command()
        except LedgerError as e:
            return e

    return run


@pytest.fixture
def two(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> tuple[Services, Services, Cast]:
    """Two Services on one database, as two server processes would be, and the cast."""
    first, second = open_services(database_url), open_services(database_url)
    return first, second, seed_cast(first)


def validated(services: Services, cast: Cast, points: int = 6) -> CommandResult:
    """A fresh assessment of the pair, validated and projected."""
    made = services.ledger.assess(cast.instructor, cast.license_id, SKILL, points, 10)
    services.projector.catch_up()
    services.ledger.validate(cast.admin, made.assessment_id)
    services.projector.catch_up()
    return made


def pair_events(services: Services, cast: Cast) -> list[SkillRecord.Event]:
    with services.db.transaction(write=False) as cursor:
        logged = services.eventlog.read(cursor, 0, 1_000_000)
    record = services.ledger.record(cast.license_id, SKILL).id
    return [
        event for event in map(services.eventlog.decode, logged) if event.originator_id == record
    ]


def test_a_dispute_racing_a_replacement_ends_one_way_or_the_other(
    two: tuple[Services, Services, Cast],
) -> None:
    first, second, cast = two
    seen: set[str] = set()
    for round_ in range(ROUNDS):
        made = validated(first, cast, points=round_ % 5)
        results = all_at_once(
            [
                attempt(
                    lambda target=made.assessment_id: first.ledger.dispute(
                        cast.student, target, "no"
                    )
                ),
                attempt(
                    lambda: second.ledger.assess(
                        cast.other_instructor, cast.license_id, SKILL, 9, 10
                    )
                ),
            ]
        )
        disputed, replaced = results
        assert isinstance(replaced, CommandResult)
        assert replaced.outcome is Outcome.REPLACED
        first.projector.catch_up()
        old = first.readmodel.get(made.assessment_id)
        assert old is not None
        assert old.status is Status.ARCHIVED
        if isinstance(disputed, CommandResult):  # the dispute first: the new one supersedes it
            assert old.dispute_outcome == DisputeOutcome.SUPERSEDED.value
            seen.add("disputed first")
        else:  # the replacement first: nothing left to dispute
            assert isinstance(disputed, InvalidTransition)
            assert old.disputed_at is None
            seen.add("replaced first")
        # leave the pair with a validated one of other points for the next round
        first.ledger.assess(cast.instructor, cast.license_id, SKILL, 10, 10)
        first.projector.catch_up()
    first.projector.catch_up()
    rows = first.readmodel.history(cast.license_id, SKILL)
    assert sum(row.is_active for row in rows) == 1
    assert first.audit.verify().ok
    assert seen  # which order won is up to the scheduler; either is one of the rules' outcomes


def test_two_resolutions_racing_record_exactly_one(
    two: tuple[Services, Services, Cast],
) -> None:
    first, second, cast = two
    outcomes = (DisputeOutcome.APPROVE, DisputeOutcome.REJECT, DisputeOutcome.MODIFY)
    for round_ in range(ROUNDS):
        made = validated(first, cast, points=round_ % 5)
        first.ledger.dispute(cast.student, made.assessment_id, "not fair")
        first.projector.catch_up()
        before = len(pair_events(first, cast))
        kinds = (outcomes[round_ % 3], outcomes[(round_ + 1) % 3])

        def resolve(
            services: Services, kind: DisputeOutcome, target: UUID = made.assessment_id
        ) -> Callable[[], CommandResult]:
            points = (9, 10) if kind is DisputeOutcome.MODIFY else None
            return lambda: services.ledger.resolve(
                cast.other_admin, target, kind, "decided", points
            )

        results = all_at_once(
            [attempt(resolve(first, kinds[0])), attempt(resolve(second, kinds[1]))]
        )

        won = [r for r in results if isinstance(r, CommandResult)]
        lost = [r for r in results if isinstance(r, LedgerError)]
        assert len(won) == 1, results
        assert [type(error) for error in lost] == [DisputeRefused]
        assert "already resolved" in str(lost[0])
        resolved = [e for e in pair_events(first, cast)[before:] if e.effect.outcome]
        assert len(resolved) == 1
        winner = kinds[results.index(won[0])]
        assert resolved[0].outcome == winner.value  # type: ignore[attr-defined]
        first.projector.catch_up()
        # The winner's decision stands; repeating it records nothing.
        again = attempt(resolve(second, winner))()
        assert isinstance(again, CommandResult)
        assert again.outcome is Outcome.UNCHANGED
        first.ledger.assess(cast.instructor, cast.license_id, SKILL, 10, 10)
        first.projector.catch_up()
    assert first.audit.verify().ok

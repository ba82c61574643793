"""Random command sequences against a pure-Python model: events, aggregates and table agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from skill_ledger.domain import (
    REPLACED_BY_NEW,
    Actor,
    Assessment,
    AssessmentNotFound,
    InvalidAssessment,
    InvalidTransition,
    LedgerError,
    NotPermitted,
    Outcome,
    Role,
    SelfValidationForbidden,
    Status,
    fold,
)
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import Cast, seed_cast

SKILLS = ("passing", "dribbling")
PAIRS = 3
ASSESSORS = ("admin", "other_admin", "instructor", "other_instructor")
ONLOOKERS = ("student", "auditor")
REASONS = ("injury", "wrong license", "   ")


@dataclass
class World:
    """One database shared by every example: its people, and the fold of the log read so far."""

    services: Services
    cast: Cast
    position: int = 0
    folded: dict[UUID, Assessment] = field(default_factory=dict)

    def actor(self, key: str) -> Actor:
        """A cast member by name."""
        actor: Actor = getattr(self.cast, key)
        return actor

    def fold_new_events(self) -> dict[UUID, Assessment]:
        """Fold the events logged since the last call: the fold over the whole log."""
        with self.services.db.transaction(write=False) as cursor:
            logged = self.services.eventlog.read(cursor, self.position, 1_000_000)
        fold(self.folded, [self.services.eventlog.decode(item) for item in logged])
        if logged:
            self.position = logged[-1].position
        return self.folded


@dataclass
class Modelled:
    """What the model knows of one assessment."""

    pair: tuple[int, str]
    points: tuple[int, int]
    assessor: int
    status: Status
    archived_reason: str | None = None


class LedgerMachine(RuleBasedStateMachine):
    """Assess, validate and archive at random on a few fresh (license, skill) pairs."""

    assessments = Bundle("assessments")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.ledger = world.services.ledger
        self.pairs: list[tuple[int, str]] = []
        self.model: dict[UUID, Modelled] = {}
        self.active: dict[tuple[int, str], UUID] = {}

    @initialize()
    def open_licenses(self) -> None:
        """New licenses per example, so examples never see each other's pairs."""
        accounts = self.world.services.accounts
        first, second = (accounts.add_license(self.world.cast.student_email) for _ in range(2))
        self.pairs = [(first, SKILLS[0]), (first, SKILLS[1]), (second, SKILLS[0])][:PAIRS]

    def project(self) -> None:
        """Commands on existing ids locate them through the read table: let it catch up."""
        self.world.services.projector.catch_up()

    # -- rules ---------------------------------------------------------------------------

    @rule(
        target=assessments,
        pair=st.integers(0, PAIRS - 1),
        who=st.sampled_from(ASSESSORS),
        earned=st.integers(0, 3),
        total=st.sampled_from((3, 4)),
    )
    def assess(self, pair: int, who: str, earned: int, total: int) -> UUID:
        license_id, skill = self.pairs[pair]
        actor = self.world.actor(who)
        result = self.ledger.assess(actor, license_id, skill, earned, total, f"by {who}")
        current = self.active.get((license_id, skill))
        if current is not None and self.model[current].points == (earned, total):
            assert result.outcome is Outcome.IDENTICAL
            assert result.assessment_id == current
            assert result.position is None
            return current
        assert result.outcome is (Outcome.CREATED if current is None else Outcome.REPLACED)
        if current is not None:
            self.model[current].status = Status.ARCHIVED
            self.model[current].archived_reason = REPLACED_BY_NEW
        self.model[result.assessment_id] = Modelled(
            (license_id, skill), (earned, total), actor.user_id, Status.ASSESSED
        )
        self.active[(license_id, skill)] = result.assessment_id
        return result.assessment_id

    @rule(
        pair=st.integers(0, PAIRS - 1),
        who=st.sampled_from(ASSESSORS),
        points=st.sampled_from(((5, 4), (-1, 4), (1, 0), (1, 1001))),
    )
    def assess_out_of_range(self, pair: int, who: str, points: tuple[int, int]) -> None:
        license_id, skill = self.pairs[pair]
        with pytest.raises(InvalidAssessment):
            self.ledger.assess(self.world.actor(who), license_id, skill, *points)

    @rule(
        pair=st.integers(0, PAIRS - 1),
        assessment_id=assessments,
        who=st.sampled_from(ONLOOKERS),
        command=st.sampled_from(("assess", "validate", "archive")),
    )
    def onlookers_are_not_permitted(
        self, pair: int, assessment_id: UUID, who: str, command: str
    ) -> None:
        self.project()
        actor = self.world.actor(who)
        license_id, skill = self.pairs[pair]
        attempts: dict[str, Callable[[], object]] = {
            "assess": lambda: self.ledger.assess(actor, license_id, skill, 1, 3),
            "validate": lambda: self.ledger.validate(actor, assessment_id),
            "archive": lambda: self.ledger.archive(actor, assessment_id, "no"),
        }
        with pytest.raises(LedgerError) as raised:
            attempts[command]()
        assert type(raised.value) is NotPermitted

    @rule(assessment_id=assessments, who=st.sampled_from(ASSESSORS))
    def validate(self, assessment_id: UUID, who: str) -> None:
        self.project()
        actor = self.world.actor(who)
        modelled = self.model[assessment_id]
        expected: type[LedgerError] | None = None
        if actor.role is not Role.ADMIN:
            expected = NotPermitted
        elif modelled.assessor == actor.user_id:
            expected = SelfValidationForbidden
        elif modelled.status is Status.ARCHIVED:
            expected = InvalidTransition
        if expected is not None:
            with pytest.raises(LedgerError) as raised:
                self.ledger.validate(actor, assessment_id)
            assert type(raised.value) is expected
            return
        result = self.ledger.validate(actor, assessment_id)
        if modelled.status is Status.VALIDATED:
            assert (result.outcome, result.position) == (Outcome.UNCHANGED, None)
            return
        assert result.outcome is Outcome.VALIDATED
        modelled.status = Status.VALIDATED

    @rule(
        assessment_id=assessments, who=st.sampled_from(ASSESSORS), reason=st.sampled_from(REASONS)
    )
    def archive(self, assessment_id: UUID, who: str, reason: str) -> None:
        self.project()
        actor = self.world.actor(who)
        modelled = self.model[assessment_id]
        allowed = actor.role is Role.ADMIN or (
            actor.role is Role.INSTRUCTOR and modelled.assessor == actor.user_id
        )
        expected: type[LedgerError] | None = None
        if not allowed:
            expected = NotPermitted
        elif modelled.status is not Status.ARCHIVED and not reason.strip():
            expected = InvalidAssessment
        if expected is not None:
            with pytest.raises(LedgerError) as raised:
                self.ledger.archive(actor, assessment_id, reason)
            assert type(raised.value) is expected
            return
        result = self.ledger.archive(actor, assessment_id, reason)
        if modelled.status is Status.ARCHIVED:
            assert (result.outcome, result.position) == (Outcome.UNCHANGED, None)
            return
        assert result.outcome is Outcome.ARCHIVED
        modelled.status = Status.ARCHIVED
        modelled.archived_reason = reason.strip()
        del self.active[modelled.pair]

    @rule(who=st.sampled_from(ASSESSORS), archive=st.booleans())
    def command_on_an_unknown_assessment(self, who: str, archive: bool) -> None:
        actor = self.world.actor(who)
        unknown = uuid4()
        command: Callable[[], object] = (
            (lambda: self.ledger.archive(actor, unknown, "gone"))
            if archive
            else (lambda: self.ledger.validate(actor, unknown))
        )
        with pytest.raises(AssessmentNotFound):
            command()

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def aggregates_agree_with_the_model(self) -> None:
        for license_id, skill in self.pairs:
            record = self.ledger.record(license_id, skill)
            expected = self.active.get((license_id, skill))
            if expected is None:
                assert record.active is None
            else:
                assert record.active is not None
                assert record.active.id == expected
                assert record.active.status is self.model[expected].status
                assert (record.active.points_earned, record.active.points_total) == (
                    self.model[expected].points
                )
            archived = {
                assessment_id
                for assessment_id, modelled in self.model.items()
                if modelled.pair == (license_id, skill) and modelled.status is Status.ARCHIVED
            }
            assert set(record.archived) == archived

    @invariant()
    def read_table_is_the_fold_of_the_log_with_one_active_row_per_pair(self) -> None:
        # Scoped to this example's pairs, so one failing example cannot fail the next ones and
        # shrinking stays deterministic; the test checks the whole table once at the end.
        self.project()
        folded = self.world.fold_new_events()
        readmodel = self.world.services.readmodel
        for pair in self.pairs:
            rows = {row.id: row for row in readmodel.history(*pair)}
            assert rows == {
                assessment_id: row
                for assessment_id, row in folded.items()
                if (row.user_license_id, row.skill_name) == pair
            }
            assert sum(row.is_active for row in rows.values()) <= 1
            assert rows.keys() == {i for i, m in self.model.items() if m.pair == pair}
            for assessment_id, row in rows.items():
                assert row.status is self.model[assessment_id].status
                assert row.archived_reason == self.model[assessment_id].archived_reason


@pytest.mark.parametrize(("backend", "examples"), [("sqlite", 25), ("postgres", 10)])
def test_random_command_sequences_keep_events_aggregates_and_table_in_agreement(
    backend: str,
    examples: int,
    request: pytest.FixtureRequest,
    open_services: Callable[..., Services],
) -> None:
    url: DatabaseURL = request.getfixturevalue(f"{backend}_url")
    services = open_services(url)
    world = World(services, seed_cast(services))
    run_state_machine_as_test(
        lambda: LedgerMachine(world),
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            # Same examples every run: CI must not depend on how long random sequences happen to be.
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    services.projector.catch_up()
    table = services.readmodel.all()
    assert table == world.fold_new_events()
    assert len(table) > examples, "the examples recorded too little to prove anything"
    active = [(row.user_license_id, row.skill_name) for row in table.values() if row.is_active]
    assert len(active) == len(set(active))

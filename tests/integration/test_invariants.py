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
    precondition,
    rule,
    run_state_machine_as_test,
)

from skill_ledger.domain import (
    REPLACED_BY_NEW,
    Actor,
    Assessment,
    AssessmentNotFound,
    DisputeOutcome,
    DisputeRefused,
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
from tests.conftest import PASSWORD, Cast, seed_cast

SKILLS = ("passing", "dribbling")
PAIRS = 3
ASSESSORS = ("admin", "other_admin", "instructor", "other_instructor")
ONLOOKERS = ("student", "auditor")
REASONS = ("injury", "wrong license", "   ")
DISPUTERS = ("student", "instructor", "admin")
OUTCOMES = ("approve", "reject", "modify")
REPLACED_AFTER_DISPUTE = "Replaced after dispute"


@dataclass
class World:
    """One database shared by every example: its people, and the fold of the log read so far."""

    services: Services
    cast: Cast
    position: int = 0
    folded: dict[UUID, Assessment] = field(default_factory=dict)
    resolver: Actor | None = None

    def actor(self, key: str) -> Actor:
        """A cast member by name (the resolver: a third admin, who never assesses)."""
        actor: Actor | None = self.resolver if key == "resolver" else getattr(self.cast, key)
        assert actor is not None
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
    validator: int | None = None
    disputed: bool = False
    dispute_outcome: str | None = None

    @property
    def dispute_open(self) -> bool:
        """Disputed and not yet resolved."""
        return self.disputed and self.dispute_outcome is None


class LedgerMachine(RuleBasedStateMachine):
    """Assess, validate, archive, dispute and resolve at random on a few fresh pairs."""

    assessments = Bundle("assessments")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.ledger = world.services.ledger
        self.pairs: list[tuple[int, str]] = []
        self.model: dict[UUID, Modelled] = {}
        self.active: dict[tuple[int, str], UUID] = {}
        self.last_archived: dict[tuple[int, str], UUID] = {}

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
            if self.model[current].dispute_open:
                self.model[current].dispute_outcome = DisputeOutcome.SUPERSEDED.value
            self.retire(current, REPLACED_BY_NEW)
        self.model[result.assessment_id] = Modelled(
            (license_id, skill), (earned, total), actor.user_id, Status.ASSESSED
        )
        self.active[(license_id, skill)] = result.assessment_id
        return result.assessment_id

    def retire(self, assessment_id: UUID, reason: str) -> None:
        """The model's row leaves the active set."""
        modelled = self.model[assessment_id]
        modelled.status = Status.ARCHIVED
        modelled.archived_reason = reason
        self.last_archived[modelled.pair] = assessment_id
        if self.active.get(modelled.pair) == assessment_id:
            del self.active[modelled.pair]

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
        elif modelled.status in (Status.ARCHIVED, Status.DISPUTED):
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
        modelled.validator = actor.user_id

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
        elif modelled.status is Status.DISPUTED:
            expected = InvalidTransition
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
        self.retire(assessment_id, reason.strip())

    @rule(assessment_id=assessments, who=st.sampled_from(DISPUTERS))
    def dispute(self, assessment_id: UUID, who: str) -> None:
        self.project()
        actor = self.world.actor(who)
        modelled = self.model[assessment_id]
        expected: type[LedgerError] | None = None
        if actor.role is not Role.STUDENT:
            expected = NotPermitted
        elif modelled.status is Status.ARCHIVED:
            expected = InvalidTransition
        elif modelled.disputed:  # open, or resolved: never twice
            expected = DisputeRefused
        elif modelled.status is Status.ASSESSED:
            expected = InvalidTransition
        if expected is not None:
            with pytest.raises(LedgerError) as raised:
                self.ledger.dispute(actor, assessment_id, "not fair")
            assert type(raised.value) is expected
            return
        result = self.ledger.dispute(actor, assessment_id, "not fair")
        assert result.outcome is Outcome.DISPUTED
        modelled.status = Status.DISPUTED
        modelled.disputed = True

    @rule(
        assessment_id=assessments,
        who=st.sampled_from(ASSESSORS),
        outcome=st.sampled_from(OUTCOMES),
        note=st.sampled_from(("fair", " ")),
        earned=st.integers(0, 3),
    )
    def resolve(self, assessment_id: UUID, who: str, outcome: str, note: str, earned: int) -> None:
        self.project()
        actor = self.world.actor(who)
        modelled = self.model[assessment_id]
        kind = DisputeOutcome(outcome)
        points = (earned, 3) if kind is DisputeOutcome.MODIFY else None
        held = assessment_id in (
            self.active.get(modelled.pair),
            self.last_archived.get(modelled.pair),
        )
        expected: type[LedgerError] | None = None
        if actor.role is not Role.ADMIN:
            expected = NotPermitted
        elif not held:
            expected = InvalidTransition
        elif actor.user_id in (modelled.assessor, modelled.validator):
            expected = SelfValidationForbidden
        elif not modelled.dispute_open and modelled.dispute_outcome != outcome:
            expected = DisputeRefused
        elif not modelled.dispute_open:
            expected = None
        elif kind is DisputeOutcome.MODIFY and points == modelled.points:
            expected = DisputeRefused
        elif kind is DisputeOutcome.REJECT and not note.strip():
            expected = InvalidAssessment
        if expected is not None:
            with pytest.raises(LedgerError) as raised:
                self.ledger.resolve(actor, assessment_id, kind, note, points)
            assert type(raised.value) is expected
            return
        result = self.ledger.resolve(actor, assessment_id, kind, note, points)
        if not modelled.dispute_open:
            assert (result.outcome, result.position) == (Outcome.UNCHANGED, None)
            return
        assert result.outcome is Outcome.RESOLVED
        modelled.dispute_outcome = outcome
        if kind is DisputeOutcome.APPROVE:
            modelled.status = Status.ASSESSED
        elif kind is DisputeOutcome.REJECT:
            modelled.status = Status.VALIDATED
        else:
            assert result.replacement is not None
            assert points is not None
            self.retire(assessment_id, REPLACED_AFTER_DISPUTE)
            self.model[result.replacement] = Modelled(
                modelled.pair, points, actor.user_id, Status.ASSESSED
            )
            self.active[modelled.pair] = result.replacement

    def active_in(self, *statuses: Status) -> list[UUID]:
        """The pairs' active assessments in these statuses, in the order they were made (ids
        are random: ordering by them would make the examples flaky)."""
        active = set(self.active.values())
        return [i for i, m in self.model.items() if i in active and m.status in statuses]

    @precondition(lambda self: self.active_in(Status.ASSESSED))
    @rule(
        index=st.integers(0, 5),
        admin=st.sampled_from(("admin", "other_admin")),
        outcome=st.sampled_from((None, *OUTCOMES)),
        earned=st.integers(0, 3),
    )
    def validate_then_dispute(
        self, index: int, admin: str, outcome: str | None, earned: int
    ) -> None:
        """A path to disputes random rules alone rarely take: validated, the holder's dispute,
        and maybe the resolver's decision at once."""
        candidates = self.active_in(Status.ASSESSED)
        target = candidates[index % len(candidates)]
        self.validate(target, admin)
        self.dispute(target, "student")
        if outcome is not None:
            self.resolve(target, "resolver", outcome, "fair", earned)

    @precondition(lambda self: self.active_in(Status.DISPUTED))
    @rule(
        index=st.integers(0, 5),
        who=st.sampled_from(("resolver", "resolver", "admin", "other_admin", "instructor")),
        outcome=st.sampled_from(OUTCOMES),
        note=st.sampled_from(("fair", " ")),
        earned=st.integers(0, 3),
    )
    def resolve_an_open_dispute(
        self, index: int, who: str, outcome: str, note: str, earned: int
    ) -> None:
        candidates = self.active_in(Status.DISPUTED)
        self.resolve(candidates[index % len(candidates)], who, outcome, note, earned)

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
                assert row.dispute_outcome == self.model[assessment_id].dispute_outcome
                assert (row.disputed_at is not None) == self.model[assessment_id].disputed
                if row.status is Status.DISPUTED:  # DISPUTED only ever from VALIDATED
                    assert row.previous_status is Status.VALIDATED


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
    resolver = services.accounts.add_user(
        f"resolver-{uuid4().hex[:8]}@x.test", "R", Role.ADMIN, PASSWORD
    )
    world.resolver = Actor(resolver.id, Role.ADMIN)
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
    outcomes = {row.dispute_outcome for row in table.values() if row.disputed_at is not None}
    print(f"\n{backend}: dispute outcomes reached: {sorted(map(str, outcomes))}")
    assert outcomes, "no example reached a dispute"
    active = [(row.user_license_id, row.skill_name) for row in table.values() if row.is_active]
    assert len(active) == len(set(active))

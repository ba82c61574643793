"""The use cases every entry point offers: commands answered once readable, reads under the rules.

The HTTP API (and any other front end) calls these and only shapes the answer; the rules come
from the domain, the state from the ledger, the read table and the audit trail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias
from uuid import UUID

from skill_ledger.accounts import Accounts
from skill_ledger.application import AssessItem, CommandResult, Ledger
from skill_ledger.audit.notary import Notary
from skill_ledger.audit.receipts import Receipt, Receipts
from skill_ledger.audit.records import EventRecord
from skill_ledger.audit.signing import SignedCheckpoint, VerifierKey
from skill_ledger.audit.trail import AuditTrail, FeedPage, PairState
from skill_ledger.audit.tree import ConsistencyProof, InclusionProof, LogTree
from skill_ledger.database import Database
from skill_ledger.domain import (
    REPLACED_BY_NEW,
    Action,
    Actor,
    Assessment,
    AssessmentNotFound,
    DisputeOutcome,
    InvalidAssessment,
    LedgerError,
    Role,
    Status,
    check_may_fetch_receipt,
    check_may_read_license,
    check_role,
    license_stream_id,
    record_id,
    user_stream_id,
)
from skill_ledger.grading import SessionGrading
from skill_ledger.readside.consistency import ReadYourWrites
from skill_ledger.readside.queries import ReadModel
from skill_ledger.readside.replicas import ReadRouter


class SigningUnavailable(LedgerError):
    """No signing key is configured (production without LEDGER_SIGNING_KEY_FILE)."""

    def __init__(self) -> None:
        super().__init__("No signing key is configured: set LEDGER_SIGNING_KEY_FILE")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a command did, the assessment as the read side now shows it, and the log position
    a later read must see (the consistency token)."""

    result: CommandResult
    assessment: Assessment
    position: int


@dataclass(frozen=True, slots=True)
class Waiting:
    """An assessment in the validation queue: why it waits, and whether the viewer made it."""

    assessment: Assessment
    reasons: tuple[str, ...]
    own: bool


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved dispute: the disputed assessment, and the admin's new one after modify."""

    answer: Answer
    replacement: Assessment | None


Step: TypeAlias = Answer | CommandResult
"""A command's answer, or its result still to be waited for (read-your-writes)."""


class Assessments:
    """Assessment commands and reads, as people (in any role) use them."""

    def __init__(
        self,
        ledger: Ledger,
        readmodel: ReadModel,
        accounts: Accounts,
        consistency: ReadYourWrites,
        trail: AuditTrail,
        grading: SessionGrading,
        reads: ReadRouter,
        receipts: Receipts | None = None,
    ) -> None:
        self.ledger = ledger
        self.grading = grading
        self.readmodel = readmodel
        self.accounts = accounts
        self.consistency = consistency
        self.trail = trail
        self.reads = reads
        self.receipts = receipts

    # -- commands: answered once the read table reflects them --------------------------------

    def assess(
        self,
        actor: Actor,
        license_id: int,
        skill: str,
        points_earned: int,
        points_total: int,
        notes: str,
    ) -> Answer:
        """Grade a skill on a license: created, replaced or identical."""
        result = self.ledger.assess(actor, license_id, skill, points_earned, points_total, notes)
        return self._answer(result)

    def assess_session(self, actor: Actor, items: list[AssessItem]) -> list[Answer | LedgerError]:
        """Grade a training session: one answer per item, in order (a refusal as its error).

        Every recorded item is readable when this returns (read-your-writes for each).
        """
        steps = self.session_steps(actor, items)
        recorded = [s.position for s in steps if isinstance(s, CommandResult) and s.position]
        if recorded:
            self.consistency.wait(max(recorded))
        return [self._now(s) if isinstance(s, CommandResult) else s for s in steps]

    def validate(self, actor: Actor, assessment_id: UUID) -> Answer:
        """An admin confirms an assessment someone else made."""
        return self._answer(self._once_found(lambda: self.ledger.validate(actor, assessment_id)))

    def archive(self, actor: Actor, assessment_id: UUID, reason: str) -> Answer:
        """Take an assessment out of the active set, with a reason."""
        return self._answer(
            self._once_found(lambda: self.ledger.archive(actor, assessment_id, reason))
        )

    def dispute(self, actor: Actor, assessment_id: UUID, reason: str) -> Answer:
        """The license's holder contests a validated assessment."""
        return self._answer(
            self._once_found(lambda: self.ledger.dispute(actor, assessment_id, reason))
        )

    def resolve(
        self,
        actor: Actor,
        assessment_id: UUID,
        outcome: DisputeOutcome,
        note: str,
        points_earned: int | None = None,
        points_total: int | None = None,
    ) -> Resolution:
        """An admin closes a dispute; modify gives the pair a new active assessment."""
        if (points_earned is None) != (points_total is None):
            missing = "points_total" if points_total is None else "points_earned"
            raise InvalidAssessment(missing, "points_earned and points_total go together")
        points = None
        if points_earned is not None and points_total is not None:
            points = (points_earned, points_total)
        result = self._once_found(
            lambda: self.ledger.resolve(actor, assessment_id, outcome, note, points)
        )
        answer = self._answer(result)
        replacement = self.readmodel.get(result.replacement) if result.replacement else None
        return Resolution(answer, replacement)

    def disputes(
        self, actor: Actor, status: str | None, after: UUID | None, limit: int
    ) -> list[Assessment]:
        """Disputed assessments, oldest dispute first (students: on the licenses they hold)."""
        check_role(actor.role, Action.READ_DISPUTES)
        holder = actor.user_id if actor.role is Role.STUDENT else None
        open_only = None if status is None else status == "open"
        return self.readmodel.disputes(open_only=open_only, after=after, limit=limit, holder=holder)

    # -- the same commands for an event loop: decided in one worker-thread hop, then awaited --

    def assess_step(self, actor: Actor, item: AssessItem) -> Step:
        """`assess` up to the read-your-writes wait (call in a worker thread)."""
        return self._step(
            self.ledger.assess(
                actor,
                item.license_id,
                item.skill_name,
                item.points_earned,
                item.points_total,
                item.notes,
            )
        )

    def validate_step(self, actor: Actor, assessment_id: UUID) -> Step:
        """`validate` up to the read-your-writes wait (call in a worker thread)."""
        return self._step(self._once_found(lambda: self.ledger.validate(actor, assessment_id)))

    def archive_step(self, actor: Actor, assessment_id: UUID, reason: str) -> Step:
        """`archive` up to the read-your-writes wait (call in a worker thread)."""
        return self._step(
            self._once_found(lambda: self.ledger.archive(actor, assessment_id, reason))
        )

    def session_steps(self, actor: Actor, items: list[AssessItem]) -> list[Step | LedgerError]:
        """Grade a training session up to the wait: one step per item, in order (a refusal as
        its error). Call in a worker thread, then `answered_session`."""
        outcomes = self.grading.grade(actor, items)
        return [o if isinstance(o, LedgerError) else self._step(o) for o in outcomes]

    async def answered_session(self, steps: list[Step | LedgerError]) -> list[Answer | LedgerError]:
        """Every recorded item readable (one wait, on the loop, for the last), then the answers."""
        recorded = [s.position for s in steps if isinstance(s, CommandResult) and s.position]
        if recorded:
            await self.consistency.wait_async(max(recorded))
        return [self._now(s) if isinstance(s, CommandResult) else s for s in steps]

    async def answered(self, step: Step) -> Answer:
        """The step's answer once the read table shows it, waited for on the event loop."""
        if isinstance(step, Answer):
            return step
        assert step.position is not None
        await self.consistency.wait_async(step.position)
        return self._now(step)

    @staticmethod
    def _now(result: CommandResult) -> Answer:
        """The answer of a result whose position the read table has reached (row in hand)."""
        assert result.assessment is not None
        assert result.position is not None
        return Answer(result, result.assessment, result.position)

    def _step(self, result: CommandResult) -> Step:
        """The answer now if it needs the database (nothing recorded, no row in hand); else the
        result, whose wait needs no thread."""
        if result.position is None or result.assessment is None:
            return self._answer(result)
        return result

    def _once_found(self, command: Callable[[], CommandResult]) -> CommandResult:
        """Run a command on an assessment found through the read table.

        An assessment recorded but not yet projected is not there yet: wait (bounded) until
        the read table reflects the whole log and look again, before answering not found.
        """
        try:
            return command()
        except AssessmentNotFound:
            if not self.consistency.reach_head():
                raise
        return command()

    def _answer(self, result: CommandResult) -> Answer:
        """The assessment, once the read table shows what the command did (or found)."""
        if result.position is not None:
            position = result.position
            self.consistency.wait(position)
        else:
            stream = record_id(result.license_id, result.skill_name)
            position = self.consistency.wait_for_stream(stream)
        row = result.assessment or self.readmodel.get(result.assessment_id)
        if row is None:
            raise AssessmentNotFound(result.assessment_id)
        return Answer(result, row, position)

    # -- reads: on a replica that has passed the client's `token` (a position), else the primary

    def history(
        self, actor: Actor, license_id: int, skill: str, *, token: int = 0
    ) -> list[Assessment]:
        """Every assessment of a pair, newest first (students: only their own licenses)."""
        self.ledger.check_skill(skill)
        check_may_read_license(actor, license_id, self.accounts.license_holder)
        self.ledger.check_license(license_id)
        return self.reads.read(token, lambda db: ReadModel(db).history(license_id, skill))

    def get(self, actor: Actor, assessment_id: UUID, *, token: int = 0) -> Assessment:
        """One assessment (students: only on their own licenses)."""
        row = self.reads.read(token, lambda db: ReadModel(db).get(assessment_id))
        if row is None:
            raise AssessmentNotFound(assessment_id)
        check_may_read_license(actor, row.user_license_id, self.accounts.license_holder)
        return row

    def receipt(self, actor: Actor | None, assessment_id: UUID) -> Receipt:
        """The assessment's events with inclusion proofs under a signed checkpoint.

        `actor` None: the operator at the command line, who has the database anyway.
        """
        row = self.readmodel.get(assessment_id)
        if row is None:
            raise AssessmentNotFound(assessment_id)
        if actor is not None:
            check_may_fetch_receipt(actor, row.user_license_id, self.accounts.license_holder)
        if self.receipts is None:
            raise SigningUnavailable()
        return self.receipts.receipt(row)

    def validation_queue(self, actor: Actor, limit: int) -> list[Waiting]:
        """Assessments waiting for an admin, oldest first, each with the policy's reasons."""
        check_role(actor.role, Action.VALIDATE)
        return [
            Waiting(row, self.why_validation(row), own=row.assessed_by == actor.user_id)
            for row in self.readmodel.awaiting_validation(limit)
        ]

    def why_validation(self, row: Assessment) -> tuple[str, ...]:
        """The policy's reasons, asked again with what the ledger held when `row` was made."""
        policy = self.ledger.settings.policy
        prior = self.readmodel.made_before(
            row.assessed_by, row.assessed_at, policy.new_instructor_assessments
        )
        history = self.readmodel.history(row.user_license_id, row.skill_name)
        last = next((r for r in history if r.assessed_at < row.assessed_at), None)
        replacing = None
        if (
            last is not None
            and last.status is Status.ARCHIVED
            and last.archived_reason == REPLACED_BY_NEW
            and last.archived_by == row.assessed_by
        ):
            replacing = dataclasses.replace(last, status=last.previous_status)
        reasons = policy.reasons(
            Actor(row.assessed_by, Role.INSTRUCTOR),
            prior,
            row.percentage,
            last.percentage if last else None,
            replacing,
        )
        return reasons or ("required when it was made (the policy has changed since)",)

    def made_by(self, actor: Actor, limit: int) -> list[Assessment]:
        """The assessments the actor made, newest first (those who may assess)."""
        check_role(actor.role, Action.ASSESS)
        return self.readmodel.made_by(actor.user_id, limit)

    def standing(self, actor: Actor, license_id: int) -> list[Assessment]:
        """A license's active assessment per skill (students: only their own licenses)."""
        check_may_read_license(actor, license_id, self.accounts.license_holder)
        self.ledger.check_license(license_id)
        return self.readmodel.active_on(license_id)

    # -- the audit trail -----------------------------------------------------------------------

    def events(
        self, actor: Actor, license_id: int, skill: str, *, token: int = 0
    ) -> list[EventRecord]:
        """The pair's full history: who did what, when, with which hash."""
        self._check_pair_audit(actor, license_id, skill)
        return self.reads.read(token, lambda db: self._trail(db).events(license_id, skill))

    def state(
        self,
        actor: Actor,
        license_id: int,
        skill: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        token: int = 0,
    ) -> PairState:
        """The pair's assessments at a version or a moment."""
        self._check_pair_audit(actor, license_id, skill)
        return self.reads.read(
            token,
            lambda db: self._trail(db).state(license_id, skill, version=version, as_of=as_of),
        )

    def user_events(self, actor: Actor, user_id: int, *, token: int = 0) -> list[EventRecord]:
        """A user account's full history: registration, roles, (de)activations, resets."""
        check_role(actor.role, Action.AUDIT)
        self.accounts.user(user_id)
        stream = user_stream_id(user_id)
        return self.reads.read(token, lambda db: self._trail(db).stream(stream))

    def license_events(self, actor: Actor, license_id: int, *, token: int = 0) -> list[EventRecord]:
        """A license's full history: who held it, from when, on whose decision."""
        check_role(actor.role, Action.AUDIT)
        self.ledger.check_license(license_id)
        stream = license_stream_id(license_id)
        return self.reads.read(token, lambda db: self._trail(db).stream(stream))

    def feed(self, actor: Actor, after: int, limit: int, *, token: int = 0) -> FeedPage:
        """Events after a position, in commit order."""
        check_role(actor.role, Action.AUDIT)
        return self.reads.read(token, lambda db: self._trail(db).feed(after, limit))

    def _trail(self, db: Database) -> AuditTrail:
        """The audit trail read through `db` (the primary's, or a replica's)."""
        return self.trail if db is self.trail.db else AuditTrail(db, self.trail.eventlog)

    def _check_pair_audit(self, actor: Actor, license_id: int, skill: str) -> None:
        check_role(actor.role, Action.AUDIT)
        self.ledger.check_skill(skill)
        self.ledger.check_license(license_id)


class Proofs:
    """The log's signed checkpoints and Merkle proofs, for admins and auditors."""

    def __init__(self, db: Database, tree: LogTree, notary: Notary | None) -> None:
        self.db = db
        self.tree = tree
        self.notary = notary

    def _notary(self, actor: Actor) -> Notary:
        check_role(actor.role, Action.PROVE)
        if self.notary is None:
            raise SigningUnavailable()
        return self.notary

    def key(self, actor: Actor) -> VerifierKey:
        """The public key that signs the log's checkpoints."""
        return self._notary(actor).verifier

    def checkpoint(self, actor: Actor) -> SignedCheckpoint:
        """The latest signed checkpoint (the first one is signed on demand)."""
        return self._notary(actor).covering(0)

    def inclusion(self, actor: Actor, position: int, tree_size: int | None) -> InclusionProof:
        """The event at `position` in the tree of `tree_size` (default: the latest checkpoint)."""
        size = self.checkpoint(actor).size if tree_size is None else tree_size
        check_role(actor.role, Action.PROVE)
        # Stored nodes never change once written: no snapshot isolation needed.
        with self.db.transaction(write=False) as cursor:
            return self.tree.inclusion(cursor, position, size)

    def consistency(self, actor: Actor, old: int, new: int | None) -> ConsistencyProof:
        """The tree of `old` leaves is a prefix of that of `new` (default: latest checkpoint)."""
        size = self.checkpoint(actor).size if new is None else new
        check_role(actor.role, Action.PROVE)
        with self.db.transaction(write=False) as cursor:
            return self.tree.consistency(cursor, old, size)

"""The use cases every entry point offers: commands answered once readable, reads under the rules.

The HTTP API (and any other front end) calls these and only shapes the answer; the rules come
from the domain, the state from the ledger, the read table and the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from skill_ledger.accounts import Accounts
from skill_ledger.application import CommandResult, Ledger
from skill_ledger.audit.notary import Notary
from skill_ledger.audit.receipts import Receipt, Receipts
from skill_ledger.audit.records import EventRecord
from skill_ledger.audit.signing import SignedCheckpoint, VerifierKey
from skill_ledger.audit.trail import AuditTrail, FeedPage, PairState
from skill_ledger.audit.tree import ConsistencyProof, InclusionProof, LogTree
from skill_ledger.database import Database
from skill_ledger.domain import (
    Action,
    Actor,
    Assessment,
    AssessmentNotFound,
    LedgerError,
    check_may_fetch_receipt,
    check_may_read_license,
    check_role,
    license_stream_id,
    record_id,
    user_stream_id,
)
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


class Assessments:
    """Assessment commands and reads, as people (in any role) use them."""

    def __init__(
        self,
        ledger: Ledger,
        readmodel: ReadModel,
        accounts: Accounts,
        consistency: ReadYourWrites,
        trail: AuditTrail,
        reads: ReadRouter,
        receipts: Receipts | None = None,
    ) -> None:
        self.ledger = ledger
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

    def validate(self, actor: Actor, assessment_id: UUID) -> Answer:
        """An admin confirms an assessment someone else made."""
        return self._answer(self._once_found(lambda: self.ledger.validate(actor, assessment_id)))

    def archive(self, actor: Actor, assessment_id: UUID, reason: str) -> Answer:
        """Take an assessment out of the active set, with a reason."""
        return self._answer(
            self._once_found(lambda: self.ledger.archive(actor, assessment_id, reason))
        )

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

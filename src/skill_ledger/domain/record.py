"""The aggregate: one skill record per (license, skill), its events and its commands.

Each event is declared once, here: its fields, its stored topic (which never changes, whatever
module the class lives in) and its `RowEffect` on the read row. Everything else derives.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.utils import register_topic

from skill_ledger.domain.assessment import TIMESTAMP, Assessment, RowEffect
from skill_ledger.domain.chain import GENESIS_HASH, ChainedAggregate
from skill_ledger.domain.disputes import (
    DISPUTED_STATUSES,
    Modification,
    check_disputable,
    check_resolvable,
)
from skill_ledger.domain.errors import AssessmentNotFound, InvalidTransition
from skill_ledger.domain.permissions import (
    Action,
    check_may_archive,
    check_may_dispute,
    check_may_resolve,
    check_may_validate,
    check_role,
)
from skill_ledger.domain.policy import check_dispute_text, check_points, check_reason
from skill_ledger.domain.snapshot import RECORD_TOPIC, TOPIC_MODULE, RecordSnapshot, RecordState
from skill_ledger.domain.vocabulary import (
    REPLACED_AFTER_DISPUTE,
    REPLACED_BY_NEW,
    Actor,
    DisputeOutcome,
    Outcome,
    Status,
    record_id,
)

__all__ = ["RECORD_EVENTS", "RecordState", "SkillRecord"]


class SkillRecord(ChainedAggregate):
    """The assessment history of one skill on one license: at most one active assessment."""

    license_id: int
    skill_name: str
    active: Assessment | None
    archived: dict[UUID, int]
    last_archived: Assessment | None

    @classmethod
    def start(cls, license_id: int, skill_name: str, *, at: datetime | None = None) -> SkillRecord:
        """An empty record, not yet stored: its first event will be version 1."""
        record = cls.__new__(cls)
        record.__base_init__(
            record_id(license_id, skill_name), 0, at or SkillRecord.Event.create_timestamp()
        )
        record.license_id = license_id
        record.skill_name = skill_name
        record.active = None
        record.archived = {}
        record.last_archived = None
        record.last_hash = GENESIS_HASH
        return record

    class Event(ChainedAggregate.Event):
        """Base of the record's events: each declares its `RowEffect` on the read row."""

        EFFECT = RowEffect
        effect: ClassVar[RowEffect]

    class Assessed(Event):
        """An instructor or admin graded the skill; replaces names the archived predecessor."""

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.Assessed"
        effect = RowEffect(
            Status.ASSESSED,
            actor="assessed_by",
            creates=True,
            columns=MappingProxyType(
                {
                    "id": "assessment_id",
                    "user_license_id": "license_id",
                    "skill_name": "skill_name",
                    "points_earned": "points_earned",
                    "points_total": "points_total",
                    "notes": "notes",
                    "requires_validation": "requires_validation",
                    "assessed_by": "assessed_by",
                    "assessed_at": TIMESTAMP,
                }
            ),
        )

        license_id: int
        skill_name: str
        assessment_id: UUID
        points_earned: int
        points_total: int
        notes: str
        assessed_by: int
        requires_validation: bool
        replaces: UUID | None

        def mutate(self, aggregate: Any) -> Any:
            """The first Assessed of a pair opens its record."""
            if aggregate is None:
                aggregate = SkillRecord.start(self.license_id, self.skill_name, at=self.timestamp)
            return super().mutate(aggregate)

    class Validated(Event):
        """An admin confirmed the active assessment."""

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.Validated"
        effect = RowEffect(
            Status.VALIDATED,
            actor="validated_by",
            columns=MappingProxyType({"validated_by": "validated_by", "validated_at": TIMESTAMP}),
        )

        assessment_id: UUID
        validated_by: int

    class Archived(Event):
        """The assessment left the active set: replaced by a new one or archived by hand."""

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.Archived"
        effect = RowEffect(
            Status.ARCHIVED,
            actor="archived_by",
            reason="reason",
            columns=MappingProxyType(
                {
                    "archived_by": "archived_by",
                    "archived_at": TIMESTAMP,
                    "archived_reason": "reason",
                }
            ),
        )

        assessment_id: UUID
        archived_by: int
        reason: str

    class Disputed(Event):
        """The license's holder contested the validated assessment, giving a reason."""

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.Disputed"
        effect = RowEffect(
            Status.DISPUTED,
            actor="disputed_by",
            columns=MappingProxyType(
                {"disputed_by": "disputed_by", "disputed_at": TIMESTAMP, "dispute_reason": "reason"}
            ),
        )

        assessment_id: UUID
        disputed_by: int
        reason: str

    class DisputeResolved(Event):
        """The dispute closed: an admin's approve, reject or modify, or a superseding assessment.

        approve: back to ASSESSED, needing validation; reject: VALIDATED again; modify and
        superseded: still DISPUTED until the Archived that follows in the same command.
        """

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.DisputeResolved"
        effect = RowEffect(
            Status.DISPUTED,
            actor="resolved_by",
            reason="outcome",
            outcome="outcome",
            statuses=DISPUTED_STATUSES,
            columns=MappingProxyType(
                {
                    "dispute_resolved_by": "resolved_by",
                    "dispute_resolved_at": TIMESTAMP,
                    "dispute_outcome": "outcome",
                    "requires_validation": "requires_validation",
                }
            ),
        )

        assessment_id: UUID
        resolved_by: int
        outcome: str
        note: str
        replacement: UUID | None
        requires_validation: bool

    class Snapshot(RecordSnapshot):
        """The record's state at a version."""

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.Snapshot"

        def mutate(self, _: Any) -> Any:
            """Rebuild the record from the captured state."""
            state = self.state
            record = SkillRecord.start(state.license_id, state.skill_name, at=state.created_on)
            record.version = self.originator_version
            record.modified_on = state.modified_on
            record.active = state.active
            record.archived = dict(state.archived)
            record.last_archived = state.last_archived
            record.last_hash = state.last_hash
            return record

    def __deepcopy__(self, memo: dict[int, Any]) -> SkillRecord:
        """Cheap copy for the repository's cache: assessments are immutable, containers are not."""
        clone = copy.copy(self)
        clone.archived = dict(self.archived)
        clone._pending_events = list(self._pending_events)
        return clone

    # -- commands ---------------------------------------------------------------------

    def assess(
        self,
        actor: Actor,
        points_earned: int,
        points_total: int,
        notes: str,
        requires_validation: bool,
        assessment_id: UUID,
    ) -> Outcome:
        """Grade the skill; identical points record nothing, different points replace."""
        check_role(actor.role, Action.ASSESS)
        check_points(points_earned, points_total, notes)
        replaced = self.active
        if replaced is not None and replaced.same_points(points_earned, points_total):
            return Outcome.IDENTICAL
        if replaced is not None and replaced.dispute_open:
            self._resolved(actor, replaced, DisputeOutcome.SUPERSEDED, "", assessment_id)
        new = Modification(points_earned, points_total, requires_validation, assessment_id)
        self._replace(actor, replaced.id if replaced else None, REPLACED_BY_NEW, new, notes)
        return Outcome.REPLACED if replaced else Outcome.CREATED

    def validate(self, actor: Actor, assessment_id: UUID) -> Outcome:
        """Confirm the active assessment; validating it again records nothing."""
        check_may_validate(actor, self.assessor_of(assessment_id))
        current = self.active
        if current is None or current.id != assessment_id:
            raise InvalidTransition(assessment_id, Status.ARCHIVED, "validate")
        if current.status is Status.VALIDATED:
            return Outcome.UNCHANGED
        if current.status is Status.DISPUTED:
            raise InvalidTransition(assessment_id, current.status, "validate")
        self._trigger(
            self.Validated,
            actor.role.value,
            assessment_id=assessment_id,
            validated_by=actor.user_id,
        )
        return Outcome.VALIDATED

    def archive(self, actor: Actor, assessment_id: UUID, reason: str) -> Outcome:
        """Take the assessment out of the active set; archiving it again records nothing."""
        check_may_archive(actor, self.assessor_of(assessment_id))
        if assessment_id in self.archived:
            return Outcome.UNCHANGED
        if self.active is not None and self.active.status is Status.DISPUTED:
            raise InvalidTransition(assessment_id, Status.DISPUTED, "archive")
        reason = check_reason(reason)
        self._trigger(
            self.Archived,
            actor.role.value,
            assessment_id=assessment_id,
            archived_by=actor.user_id,
            reason=reason,
        )
        return Outcome.ARCHIVED

    def dispute(
        self,
        actor: Actor,
        assessment_id: UUID,
        reason: str,
        holder: int | None,
        *,
        window: timedelta,
        now: datetime,
    ) -> Outcome:
        """The holder contests the active, VALIDATED assessment within the window, once."""
        check_may_dispute(actor, holder)
        reason = check_dispute_text("reason", reason, required=True)
        current = self.active
        if current is None or current.id != assessment_id:
            self.assessor_of(assessment_id)  # unknown: 404
            raise InvalidTransition(assessment_id, Status.ARCHIVED, "dispute")
        check_disputable(current, window, now)
        self._trigger(
            self.Disputed,
            actor.role.value,
            assessment_id=assessment_id,
            disputed_by=actor.user_id,
            reason=reason,
        )
        return Outcome.DISPUTED

    def resolve(
        self,
        actor: Actor,
        assessment_id: UUID,
        outcome: DisputeOutcome,
        note: str,
        modification: Modification | None = None,
    ) -> Outcome:
        """An admin other than the assessor and the validator closes the open dispute; the
        same resolution again records nothing."""
        row = self.find(assessment_id)
        if row is None:
            self.assessor_of(assessment_id)  # unknown: 404
            raise InvalidTransition(assessment_id, Status.ARCHIVED, "resolve")
        check_may_resolve(actor, row.assessed_by, row.validated_by)
        if check_resolvable(row, outcome, modification):
            return Outcome.UNCHANGED
        note = check_dispute_text("note", note, required=outcome is DisputeOutcome.REJECT)
        new_id = modification.assessment_id if modification is not None else None
        self._resolved(actor, row, outcome, note, new_id)
        if modification is not None:
            self._replace(actor, assessment_id, REPLACED_AFTER_DISPUTE, modification, note)
        return Outcome.RESOLVED

    def _replace(
        self, actor: Actor, replaced: UUID | None, reason: str, new: Modification, notes: str
    ) -> None:
        if replaced is not None:
            self._trigger(
                self.Archived,
                actor.role.value,
                assessment_id=replaced,
                archived_by=actor.user_id,
                reason=reason,
            )
        self._trigger(
            self.Assessed,
            actor.role.value,
            license_id=self.license_id,
            skill_name=self.skill_name,
            assessment_id=new.assessment_id,
            points_earned=new.points_earned,
            points_total=new.points_total,
            notes=notes,
            assessed_by=actor.user_id,
            requires_validation=new.requires_validation,
            replaces=replaced,
        )

    def _resolved(
        self,
        actor: Actor,
        row: Assessment,
        outcome: DisputeOutcome,
        note: str,
        replacement: UUID | None,
    ) -> None:
        self._trigger(
            self.DisputeResolved,
            actor.role.value,
            assessment_id=row.id,
            resolved_by=actor.user_id,
            outcome=outcome.value,
            note=note,
            replacement=replacement,
            requires_validation=outcome is DisputeOutcome.APPROVE or row.requires_validation,
        )

    # -- state --------------------------------------------------------------------------

    def evolve(self, event: SkillRecord.Event) -> None:
        """Apply an event's row effect: the row stays active or joins the archived ones."""
        effect = event.effect
        row = effect.apply(None if effect.creates else self.active, event)
        if effect.final:
            self.active = None
            self.archived[row.id] = row.assessed_by
            self.last_archived = row
        else:
            self.active = row

    def assessor_of(self, assessment_id: UUID) -> int:
        """Who made this assessment of the pair; unknown ids raise AssessmentNotFound."""
        if self.active is not None and self.active.id == assessment_id:
            return self.active.assessed_by
        try:
            return self.archived[assessment_id]
        except KeyError:
            raise AssessmentNotFound(assessment_id) from None

    def find(self, assessment_id: UUID) -> Assessment | None:
        """The assessment as the record holds it: the active one or the last archived one."""
        for candidate in self.rows():
            if candidate.id == assessment_id:
                return candidate
        return None

    @property
    def last_assessment(self) -> Assessment | None:
        """The pair's most recent assessment: the active one, else the last archived one."""
        return self.active or self.last_archived

    def rows(self) -> Iterator[Assessment]:
        """The rows the record holds whole: the active one and the last archived one."""
        for candidate in (self.active, self.last_archived):
            if candidate is not None:
                yield candidate


RECORD_EVENTS: tuple[type[SkillRecord.Event], ...] = (
    SkillRecord.Assessed,
    SkillRecord.Validated,
    SkillRecord.Archived,
    SkillRecord.Disputed,
    SkillRecord.DisputeResolved,
)
"""Every event of a skill record, in declaration order."""


register_topic(RECORD_TOPIC, SkillRecord)
register_topic(SkillRecord.Snapshot.TOPIC, SkillRecord.Snapshot)

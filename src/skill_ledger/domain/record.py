"""The aggregate: one skill record per (license, skill), its events and its commands.

Each event is declared once, here: its fields, its stored topic (which never changes, whatever
module the class lives in) and its `RowEffect` on the read row. Everything else derives.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Snapshot as BaseSnapshot
from eventsourcing.utils import register_topic

from skill_ledger.domain.assessment import TIMESTAMP, Assessment, RowEffect
from skill_ledger.domain.chain import GENESIS_HASH, ChainedAggregate
from skill_ledger.domain.errors import AssessmentNotFound, InvalidTransition
from skill_ledger.domain.permissions import (
    Action,
    check_may_archive,
    check_may_validate,
    check_role,
)
from skill_ledger.domain.policy import check_points, check_reason
from skill_ledger.domain.vocabulary import (
    REPLACED_BY_NEW,
    Actor,
    Outcome,
    Status,
    record_id,
)

# Stored topics name the module the classes lived in when the first events were written.
TOPIC_MODULE = "skill_ledger.domain"
RECORD_TOPIC = f"{TOPIC_MODULE}:SkillRecord"


@dataclass(frozen=True, slots=True)
class RecordState:
    """A skill record's state as a snapshot stores it."""

    license_id: int
    skill_name: str
    active: Assessment | None
    archived: dict[UUID, int]
    last_archived: Assessment | None
    last_hash: str
    created_on: datetime
    modified_on: datetime


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

    class Snapshot(BaseSnapshot):
        """The record's state at a version, typed so it decodes without guesswork."""

        TOPIC = f"{TOPIC_MODULE}:SkillRecord.Snapshot"
        state: RecordState  # type: ignore[assignment]

        @classmethod
        def take(cls, aggregate: Any) -> Any:
            """Capture the record's state."""
            return cls(
                originator_id=aggregate.id,
                originator_version=aggregate.version,
                timestamp=cls.create_timestamp(),
                topic=RECORD_TOPIC,
                state=RecordState(  # type: ignore[arg-type]
                    license_id=aggregate.license_id,
                    skill_name=aggregate.skill_name,
                    active=aggregate.active,
                    archived=dict(aggregate.archived),
                    last_archived=aggregate.last_archived,
                    last_hash=aggregate.last_hash,
                    created_on=aggregate.created_on,
                    modified_on=aggregate.modified_on,
                ),
            )

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
        if replaced is not None:
            self._trigger(
                self.Archived,
                actor.role.value,
                assessment_id=replaced.id,
                archived_by=actor.user_id,
                reason=REPLACED_BY_NEW,
            )
        self._trigger(
            self.Assessed,
            actor.role.value,
            license_id=self.license_id,
            skill_name=self.skill_name,
            assessment_id=assessment_id,
            points_earned=points_earned,
            points_total=points_total,
            notes=notes,
            assessed_by=actor.user_id,
            requires_validation=requires_validation,
            replaces=replaced.id if replaced else None,
        )
        return Outcome.REPLACED if replaced else Outcome.CREATED

    def validate(self, actor: Actor, assessment_id: UUID) -> Outcome:
        """Confirm the active assessment; validating it again records nothing."""
        check_may_validate(actor, self.assessor_of(assessment_id))
        current = self.active
        if current is None or current.id != assessment_id:
            raise InvalidTransition(assessment_id, Status.ARCHIVED, "validate")
        if current.status is Status.VALIDATED:
            return Outcome.UNCHANGED
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
        reason = check_reason(reason)
        self._trigger(
            self.Archived,
            actor.role.value,
            assessment_id=assessment_id,
            archived_by=actor.user_id,
            reason=reason,
        )
        return Outcome.ARCHIVED

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
)
"""Every event of a skill record, in declaration order."""


register_topic(RECORD_TOPIC, SkillRecord)
register_topic(SkillRecord.Snapshot.TOPIC, SkillRecord.Snapshot)

"""The ledger's pure domain: one skill record per (license, skill), its events, rules and errors."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as BaseSnapshot
from eventsourcing.utils import get_topic

RECORD_NAMESPACE = UUID("6f0b1d5e-2c39-5a7e-9a51-3b8f4c0d2e17")
GENESIS_HASH = "0" * 64
REPLACED_BY_NEW = "Replaced by new"
MAX_POINTS_TOTAL = 1000
MAX_NOTES_LENGTH = 2000
MAX_REASON_LENGTH = 500


class Status(StrEnum):
    """Lifecycle state of one assessment."""

    NOT_ASSESSED = "NOT_ASSESSED"
    ASSESSED = "ASSESSED"
    VALIDATED = "VALIDATED"
    ARCHIVED = "ARCHIVED"


ACTIVE_STATUSES = frozenset({Status.ASSESSED, Status.VALIDATED})


class Role(StrEnum):
    """What a user may do."""

    ADMIN = "admin"
    INSTRUCTOR = "instructor"
    STUDENT = "student"
    AUDITOR = "auditor"


class Outcome(StrEnum):
    """What a command did."""

    CREATED = "created"
    REPLACED = "replaced"
    IDENTICAL = "identical"
    VALIDATED = "validated"
    ARCHIVED = "archived"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Actor:
    """The user issuing a command."""

    user_id: int
    role: Role


# --- errors -------------------------------------------------------------------------------


class LedgerError(Exception):
    """Base class of the ledger's named errors."""


class NotPermitted(LedgerError):
    """The actor's role or relation to the assessment forbids the command."""


class SelfValidationForbidden(NotPermitted):
    """An assessor cannot validate their own assessment (four-eyes rule)."""


class NotFound(LedgerError):
    """Something the command names does not exist."""


class AssessmentNotFound(NotFound):
    """No assessment has this id."""

    def __init__(self, assessment_id: UUID) -> None:
        super().__init__(f"Assessment {assessment_id} not found")
        self.assessment_id = assessment_id


class LicenseNotFound(NotFound):
    """No license has this id."""

    def __init__(self, license_id: int) -> None:
        super().__init__(f"License {license_id} not found")
        self.license_id = license_id


class UnknownSkill(NotFound):
    """The skill is not in the catalogue."""

    def __init__(self, skill_name: str) -> None:
        super().__init__(f"Skill {skill_name!r} is not in the catalogue")
        self.skill_name = skill_name


class InvalidTransition(LedgerError):
    """The assessment's current state does not allow the command."""

    def __init__(self, assessment_id: UUID, status: Status, command: str) -> None:
        super().__init__(f"Cannot {command} assessment {assessment_id}: it is {status.value}")
        self.assessment_id = assessment_id
        self.status = status
        self.command = command


class InvalidAssessment(LedgerError):
    """The command's values break a rule (points out of range, notes too long, …)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ConcurrencyConflict(LedgerError):
    """Other writers kept winning the stream; the command gave up after its retries."""


# --- identity and hashing -----------------------------------------------------------------


def record_id(license_id: int, skill_name: str) -> UUID:
    """The deterministic stream id of one (license, skill) pair."""
    return uuid.uuid5(RECORD_NAMESPACE, f"{license_id}/{skill_name}")


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, the one textual form of a time in the ledger."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


HASH_EXCLUDED = frozenset({"prev_hash", "hash"})


def event_payload(event: object) -> dict[str, Any]:
    """An event's fields as JSON values, without its stream position: what is stored."""
    return {
        field.name: _plain(getattr(event, field.name))
        for field in dataclasses.fields(event)  # type: ignore[arg-type]
        if field.name not in ("originator_id", "originator_version")
    }


def canonical_json(value: object) -> bytes:
    """RFC 8785-compatible encoding of our payloads (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(
    stream_id: str, version: int, event_type: str, payload: dict[str, Any], prev_hash: str
) -> str:
    """SHA-256 of one event in its stream's hash chain (see docs/audit.md)."""
    body = {k: v for k, v in payload.items() if k not in HASH_EXCLUDED}
    document = {
        "payload": body,
        "prev_hash": prev_hash,
        "stream": stream_id,
        "type": event_type,
        "version": version,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


# --- the read-side row, shared by the aggregate and the projection -------------------------


@dataclass(frozen=True, slots=True)
class Assessment:
    """One assessment as it now stands: a row of football_skill_assessments."""

    id: UUID
    user_license_id: int
    skill_name: str
    points_earned: int
    points_total: int
    notes: str
    status: Status
    requires_validation: bool
    assessed_by: int
    assessed_at: datetime
    previous_status: Status
    status_changed_at: datetime
    status_changed_by: int
    validated_by: int | None = None
    validated_at: datetime | None = None
    archived_by: int | None = None
    archived_at: datetime | None = None
    archived_reason: str | None = None

    @property
    def percentage(self) -> float:
        """points_earned as a percentage of points_total, two decimals."""
        return round(100.0 * self.points_earned / self.points_total, 2)

    @property
    def is_active(self) -> bool:
        """ASSESSED or VALIDATED."""
        return self.status in ACTIVE_STATUSES

    def same_points(self, points_earned: int, points_total: int) -> bool:
        """Content idempotency: notes do not count."""
        return (self.points_earned, self.points_total) == (points_earned, points_total)


def assessment_from(event: SkillRecord.Assessed) -> Assessment:
    """The row an Assessed event creates."""
    return Assessment(
        id=event.assessment_id,
        user_license_id=event.license_id,
        skill_name=event.skill_name,
        points_earned=event.points_earned,
        points_total=event.points_total,
        notes=event.notes,
        status=Status.ASSESSED,
        requires_validation=event.requires_validation,
        assessed_by=event.assessed_by,
        assessed_at=event.timestamp,
        previous_status=Status.NOT_ASSESSED,
        status_changed_at=event.timestamp,
        status_changed_by=event.assessed_by,
    )


def validated(row: Assessment, event: SkillRecord.Validated) -> Assessment:
    """The row after a Validated event."""
    return dataclasses.replace(
        row,
        status=Status.VALIDATED,
        validated_by=event.validated_by,
        validated_at=event.timestamp,
        previous_status=row.status,
        status_changed_at=event.timestamp,
        status_changed_by=event.validated_by,
    )


def archived(row: Assessment, event: SkillRecord.Archived) -> Assessment:
    """The row after an Archived event."""
    return dataclasses.replace(
        row,
        status=Status.ARCHIVED,
        archived_by=event.archived_by,
        archived_at=event.timestamp,
        archived_reason=event.reason,
        previous_status=row.status,
        status_changed_at=event.timestamp,
        status_changed_by=event.archived_by,
    )


def fold(rows: dict[UUID, Assessment], events: Iterable[object]) -> dict[UUID, Assessment]:
    """Apply events to rows keyed by assessment id (the projection, as a pure function)."""
    for event in events:
        if isinstance(event, SkillRecord.Assessed):
            rows[event.assessment_id] = assessment_from(event)
        elif isinstance(event, SkillRecord.Validated):
            rows[event.assessment_id] = validated(rows[event.assessment_id], event)
        elif isinstance(event, SkillRecord.Archived):
            rows[event.assessment_id] = archived(rows[event.assessment_id], event)
    return rows


# --- the requires_validation policy -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Decides whether a new assessment needs an admin's validation.

    Default: an instructor's first `new_instructor_assessments` assessments need validation
    (new instructor), and so does any replacement that moves the score by at least
    `score_jump_percent` percentage points (high stakes). Admins' assessments never do.
    """

    new_instructor_assessments: int = 10
    score_jump_percent: float = 25.0

    def requires_validation(
        self,
        actor: Actor,
        prior_assessments_by_actor: int,
        percentage: float,
        replaced_percentage: float | None,
    ) -> bool:
        """True when the assessment must wait for an admin."""
        if actor.role is Role.ADMIN:
            return False
        if prior_assessments_by_actor < self.new_instructor_assessments:
            return True
        return (
            replaced_percentage is not None
            and abs(percentage - replaced_percentage) >= self.score_jump_percent
        )


def check_points(points_earned: int, points_total: int, notes: str) -> None:
    """Raise InvalidAssessment unless 1 ≤ total ≤ 1000, 0 ≤ earned ≤ total, notes ≤ 2000, no NUL."""
    if not 1 <= points_total <= MAX_POINTS_TOTAL:
        raise InvalidAssessment("points_total", f"must be between 1 and {MAX_POINTS_TOTAL}")
    if not 0 <= points_earned <= points_total:
        raise InvalidAssessment("points_earned", "must be between 0 and points_total")
    if len(notes) > MAX_NOTES_LENGTH:
        raise InvalidAssessment("notes", f"must be at most {MAX_NOTES_LENGTH} characters")
    check_text("notes", notes)


def check_text(field: str, value: str) -> None:
    """Refuse NUL characters: no SQL text column can store them, so no event may carry one."""
    if "\x00" in value:
        raise InvalidAssessment(field, "must not contain NUL characters")


# --- the aggregate ------------------------------------------------------------------------


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


class SkillRecord(Aggregate):
    """The assessment history of one skill on one license: at most one active assessment."""

    license_id: int
    skill_name: str
    active: Assessment | None
    archived: dict[UUID, int]
    last_archived: Assessment | None
    last_hash: str

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

    class Event(Aggregate.Event):
        """Base of the record's events: actor role and the hash chain."""

        actor_role: str
        prev_hash: str
        hash: str

        def mutate(self, aggregate: Any) -> Any:
            """Evolve the record, then move its chain tip to this event."""
            record = super().mutate(aggregate)
            assert record is not None
            record.last_hash = self.hash
            return record

    class Assessed(Event):
        """An instructor or admin graded the skill; replaces names the archived predecessor."""

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

        def apply(self, aggregate: Any) -> None:
            """The new assessment becomes the active one."""
            aggregate.active = assessment_from(self)

    class Validated(Event):
        """An admin confirmed the active assessment."""

        assessment_id: UUID
        validated_by: int

        def apply(self, aggregate: Any) -> None:
            """The active assessment becomes VALIDATED."""
            aggregate.active = validated(aggregate.active, self)

    class Archived(Event):
        """The assessment left the active set: replaced by a new one or archived by hand."""

        assessment_id: UUID
        archived_by: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            """The active assessment becomes ARCHIVED and no longer active."""
            aggregate.last_archived = archived(aggregate.active, self)
            aggregate.archived[self.assessment_id] = aggregate.active.assessed_by
            aggregate.active = None

    class Snapshot(BaseSnapshot):
        """The record's state at a version, typed so it decodes without guesswork."""

        state: RecordState  # type: ignore[assignment]

        @classmethod
        def take(cls, aggregate: Any) -> Any:
            """Capture the record's state."""
            return cls(
                originator_id=aggregate.id,
                originator_version=aggregate.version,
                timestamp=cls.create_timestamp(),
                topic=get_topic(type(aggregate)),
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
        self.check_may_assess(actor)
        check_points(points_earned, points_total, notes)
        replaced = self.active
        if replaced is not None and replaced.same_points(points_earned, points_total):
            return Outcome.IDENTICAL
        if replaced is not None:
            self._trigger(
                self.Archived,
                actor,
                assessment_id=replaced.id,
                archived_by=actor.user_id,
                reason=REPLACED_BY_NEW,
            )
        self._trigger(
            self.Assessed,
            actor,
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
        self.check_may_validate(actor, self.assessor_of(assessment_id))
        current = self.active
        if current is None or current.id != assessment_id:
            raise InvalidTransition(assessment_id, Status.ARCHIVED, "validate")
        if current.status is Status.VALIDATED:
            return Outcome.UNCHANGED
        self._trigger(
            self.Validated, actor, assessment_id=assessment_id, validated_by=actor.user_id
        )
        return Outcome.VALIDATED

    def archive(self, actor: Actor, assessment_id: UUID, reason: str) -> Outcome:
        """Take the assessment out of the active set; archiving it again records nothing."""
        self.check_may_archive(actor, self.assessor_of(assessment_id))
        if assessment_id in self.archived:
            return Outcome.UNCHANGED
        reason = reason.strip()
        if not reason:
            raise InvalidAssessment("reason", "must not be empty")
        if len(reason) > MAX_REASON_LENGTH:
            raise InvalidAssessment("reason", f"must be at most {MAX_REASON_LENGTH} characters")
        check_text("reason", reason)
        self._trigger(
            self.Archived,
            actor,
            assessment_id=assessment_id,
            archived_by=actor.user_id,
            reason=reason,
        )
        return Outcome.ARCHIVED

    # -- guards -----------------------------------------------------------------------

    def assessor_of(self, assessment_id: UUID) -> int:
        """Who made this assessment of the pair; unknown ids raise AssessmentNotFound."""
        if self.active is not None and self.active.id == assessment_id:
            return self.active.assessed_by
        try:
            return self.archived[assessment_id]
        except KeyError:
            raise AssessmentNotFound(assessment_id) from None

    @staticmethod
    def check_may_assess(actor: Actor) -> None:
        """Only instructors and admins grade."""
        if actor.role not in (Role.ADMIN, Role.INSTRUCTOR):
            raise NotPermitted(f"Role {actor.role.value} cannot assess")

    @staticmethod
    def check_may_validate(actor: Actor, assessor: int) -> None:
        """Only admins validate, and never their own assessment (four eyes)."""
        if actor.role is not Role.ADMIN:
            raise NotPermitted(f"Role {actor.role.value} cannot validate; only admins can")
        if assessor == actor.user_id:
            raise SelfValidationForbidden("An assessor cannot validate their own assessment")

    @staticmethod
    def check_may_archive(actor: Actor, assessor: int) -> None:
        """Admins archive anything; instructors only the assessments they made."""
        if actor.role is Role.ADMIN:
            return
        if actor.role is Role.INSTRUCTOR and assessor == actor.user_id:
            return
        raise NotPermitted("Only admins and the assessing instructor can archive an assessment")

    def find(self, assessment_id: UUID) -> Assessment | None:
        """The assessment as the record holds it: the active one or the last archived one."""
        for candidate in (self.active, self.last_archived):
            if candidate is not None and candidate.id == assessment_id:
                return candidate
        return None

    # -- chain --------------------------------------------------------------------------

    def _trigger(self, event_class: type[SkillRecord.Event], actor: Actor, **fields: Any) -> None:
        timestamp = event_class.create_timestamp()
        payload = {
            **{k: _plain(v) for k, v in fields.items()},
            "actor_role": actor.role.value,
            "timestamp": format_time(timestamp),
        }
        class_version = getattr(event_class, "class_version", 1)
        if class_version > 1:  # stored with the payload (TypedMapper) and chooses upcasters
            payload["class_version"] = class_version
        digest = chain_hash(
            str(self.id), self.version + 1, event_class.__name__, payload, self.last_hash
        )
        self.trigger_event(
            event_class,
            timestamp=timestamp,
            actor_role=actor.role.value,
            prev_hash=self.last_hash,
            hash=digest,
            **fields,
        )

"""A skill record's snapshot: its state at a version, typed so it decodes without guesswork."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot as BaseSnapshot

from skill_ledger.domain.assessment import Assessment

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


class RecordSnapshot(BaseSnapshot):
    """The record's state at a version, typed so it decodes without guesswork (the record's
    Snapshot adds its topic and how it restores the record)."""

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

"""What a command is and what it gave: the values the ledger's commands take and return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from skill_ledger.domain import Assessment, Outcome, SkillRecord, Transition


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did and the assessment as it now stands."""

    outcome: Outcome
    assessment_id: UUID
    assessment: Assessment | None
    position: int | None
    license_id: int
    skill_name: str
    replacement: UUID | None = None

    @property
    def created(self) -> bool:
        """A new assessment was recorded (first or replacing)."""
        return self.outcome in (Outcome.CREATED, Outcome.REPLACED)

    @property
    def recorded(self) -> bool:
        """Events were saved."""
        return self.position is not None


@dataclass(frozen=True, slots=True)
class AssessItem:
    """One grade of a session: the pair, the points and the notes."""

    license_id: int
    skill_name: str
    points_earned: int
    points_total: int
    notes: str = ""


Decide = Callable[[SkillRecord], tuple[Outcome, UUID]]


@dataclass(frozen=True, slots=True)
class Decision:
    """A command decided on a loaded record, its events not yet saved."""

    record: SkillRecord
    outcome: Outcome
    assessment_id: UUID
    pending: list[Any]
    changes: list[Transition]

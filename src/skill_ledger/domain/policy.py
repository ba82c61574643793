"""Rules on a command's values: the requires_validation policy and the limits on points and text."""

from __future__ import annotations

from dataclasses import dataclass

from skill_ledger.domain.errors import InvalidAssessment
from skill_ledger.domain.vocabulary import (
    MAX_NOTES_LENGTH,
    MAX_POINTS_TOTAL,
    MAX_REASON_LENGTH,
    Actor,
    Role,
)


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


def check_reason(reason: str) -> str:
    """The reason stripped; InvalidAssessment when empty, too long or holding NUL."""
    reason = reason.strip()
    if not reason:
        raise InvalidAssessment("reason", "must not be empty")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidAssessment("reason", f"must be at most {MAX_REASON_LENGTH} characters")
    check_text("reason", reason)
    return reason


def check_text(field: str, value: str) -> None:
    """Refuse NUL characters: no SQL text column can store them, so no event may carry one."""
    if "\x00" in value:
        raise InvalidAssessment(field, "must not contain NUL characters")

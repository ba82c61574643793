"""Rules on a command's values: the requires_validation policy and the limits on points and text."""

from __future__ import annotations

from dataclasses import dataclass

from skill_ledger.domain.assessment import Assessment
from skill_ledger.domain.errors import InvalidAssessment
from skill_ledger.domain.vocabulary import (
    MAX_DISPUTE_TEXT_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_POINTS_TOTAL,
    MAX_REASON_LENGTH,
    Actor,
    Role,
    Status,
)


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Decides whether a new assessment needs an admin's validation; admins' never do.

    - new instructor: an instructor's first `new_instructor_assessments` assessments;
    - score jump: a score at least `score_jump_percent` percentage points from the pair's last
      assessment, active or archived (archiving first does not escape the rule);
    - `replacing_validated`: replacing a VALIDATED assessment (an admin confirmed that grade);
    - `replacing_others`: replacing an assessment someone else made.
    """

    new_instructor_assessments: int = 10
    score_jump_percent: float = 25.0
    replacing_validated: bool = True
    replacing_others: bool = True

    def requires_validation(
        self,
        actor: Actor,
        prior_assessments_by_actor: int,
        percentage: float,
        last_percentage: float | None,
        replacing: Assessment | None = None,
    ) -> bool:
        """True when the assessment must wait for an admin.

        `last_percentage` is the score of the pair's last assessment (active or archived),
        `replacing` the active assessment the new one replaces.
        """
        return bool(
            self.reasons(actor, prior_assessments_by_actor, percentage, last_percentage, replacing)
        )

    def reasons(
        self,
        actor: Actor,
        prior_assessments_by_actor: int,
        percentage: float,
        last_percentage: float | None,
        replacing: Assessment | None = None,
    ) -> tuple[str, ...]:
        """Why the assessment must wait for an admin, in words (empty: it need not)."""
        if actor.role is Role.ADMIN:
            return ()
        found: list[str] = []
        if prior_assessments_by_actor < self.new_instructor_assessments:
            found.append(
                f"new instructor: assessment {prior_assessments_by_actor + 1} of their first "
                f"{self.new_instructor_assessments}"
            )
        if last_percentage is not None and (
            abs(percentage - last_percentage) >= self.score_jump_percent
        ):
            found.append(
                f"score jump: {last_percentage:g}% → {percentage:g}% "
                f"(at least {self.score_jump_percent:g} points)"
            )
        if replacing is not None:
            if self.replacing_validated and replacing.status is Status.VALIDATED:
                found.append("replaces a validated assessment")
            if self.replacing_others and replacing.assessed_by != actor.user_id:
                found.append(f"replaces an assessment by user {replacing.assessed_by}")
        return tuple(found)


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


def check_dispute_text(field: str, value: str, *, required: bool) -> str:
    """A dispute's reason or a resolution's note, stripped: 1–1000 characters (0 when optional),
    no NUL; InvalidAssessment naming the field otherwise."""
    value = value.strip()
    if required and not value:
        raise InvalidAssessment(field, "must not be empty")
    if len(value) > MAX_DISPUTE_TEXT_LENGTH:
        raise InvalidAssessment(field, f"must be at most {MAX_DISPUTE_TEXT_LENGTH} characters")
    check_text(field, value)
    return value


def check_text(field: str, value: str) -> None:
    """Refuse NUL characters: no SQL text column can store them, so no event may carry one."""
    if "\x00" in value:
        raise InvalidAssessment(field, "must not contain NUL characters")

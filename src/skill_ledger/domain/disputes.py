"""The rules of disputes: when an assessment may be disputed, and how a resolution stands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from uuid import UUID

from skill_ledger.domain.assessment import Assessment
from skill_ledger.domain.errors import DisputeRefused, InvalidAssessment, InvalidTransition
from skill_ledger.domain.policy import check_points
from skill_ledger.domain.vocabulary import DisputeOutcome, Status, format_time

DISPUTED_STATUSES: Mapping[str, Status] = MappingProxyType(
    {
        DisputeOutcome.APPROVE.value: Status.ASSESSED,
        DisputeOutcome.REJECT.value: Status.VALIDATED,
        DisputeOutcome.MODIFY.value: Status.DISPUTED,
        DisputeOutcome.SUPERSEDED.value: Status.DISPUTED,
    }
)
"""The status each outcome leaves the disputed row in (modify and superseded: an Archived
follows in the same command)."""
ADMIN_OUTCOMES = frozenset({DisputeOutcome.APPROVE, DisputeOutcome.REJECT, DisputeOutcome.MODIFY})


@dataclass(frozen=True, slots=True)
class Modification:
    """The points of a new assessment: a grade, or an admin's resolution with modify."""

    points_earned: int
    points_total: int
    requires_validation: bool
    assessment_id: UUID


def check_disputable(row: Assessment, window: timedelta, now: datetime) -> None:
    """The row may be disputed now: VALIDATED, never disputed before, within the window."""
    if row.status is Status.DISPUTED:
        raise DisputeRefused(row.id, "it is already disputed")
    if row.disputed_at is not None:
        raise DisputeRefused(row.id, "its dispute was resolved; it cannot be disputed again")
    if row.status is not Status.VALIDATED or row.validated_at is None:
        raise InvalidTransition(row.id, row.status, "dispute")
    closes = row.validated_at + window
    if now > closes:
        raise DisputeRefused(
            row.id, f"the dispute window of {window.days} days closed at {format_time(closes)}"
        )


def check_resolvable(
    row: Assessment, outcome: DisputeOutcome, modification: Modification | None
) -> bool:
    """True when this very resolution already happened (record nothing); DisputeRefused when
    the row has no open dispute; InvalidAssessment when modify lacks or repeats the points."""
    if outcome not in ADMIN_OUTCOMES:
        raise InvalidAssessment("outcome", "must be approve, reject or modify")
    if not row.dispute_open:
        if row.dispute_outcome == outcome.value:
            return True
        if row.dispute_outcome is not None:
            raise DisputeRefused(row.id, f"its dispute was already resolved: {row.dispute_outcome}")
        raise DisputeRefused(row.id, f"it is not disputed (it is {row.status.value})")
    if (modification is None) != (outcome is not DisputeOutcome.MODIFY):
        field = "points_earned" if modification is None else "outcome"
        raise InvalidAssessment(field, "points_earned and points_total are needed for modify only")
    if modification is not None:
        check_points(modification.points_earned, modification.points_total, "")
        if row.same_points(modification.points_earned, modification.points_total):
            raise DisputeRefused(
                row.id, "the new points equal the disputed ones; resolve with reject instead"
            )
    return False


def replacement_of(
    active: Assessment | None, last_archived: Assessment | None, assessment_id: UUID
) -> UUID | None:
    """The assessment that replaced this one when its dispute was resolved with modify (while
    the replacement is still the pair's active one)."""
    if (
        active is not None
        and last_archived is not None
        and last_archived.id == assessment_id
        and last_archived.dispute_outcome == DisputeOutcome.MODIFY.value
    ):
        return active.id
    return None

"""One assessment as it stands (the read row) and how an event changes it: the projection, pure.

Each event class declares a `RowEffect`; the aggregate, the live projector, the bulk rebuild,
the auditor's replay and the transition log lines all read that one declaration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

from skill_ledger.domain.vocabulary import Status, percentage

TIMESTAMP = "timestamp"
"""The event field holding when it happened (every event has it)."""
KEY = "assessment_id"
"""The event field naming the assessment (the row) an event changes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessment:
    """One assessment as it now stands: a row of football_skill_assessments, in column order."""

    id: UUID
    user_license_id: int
    skill_name: str
    points_earned: int
    points_total: int
    percentage: float = field(init=False, default=0.0)
    notes: str
    status: Status
    requires_validation: bool
    assessed_by: int
    assessed_at: datetime
    validated_by: int | None = None
    validated_at: datetime | None = None
    archived_by: int | None = None
    archived_at: datetime | None = None
    archived_reason: str | None = None
    previous_status: Status
    status_changed_at: datetime
    status_changed_by: int
    disputed_by: int | None = None
    disputed_at: datetime | None = None
    dispute_reason: str | None = None
    dispute_resolved_by: int | None = None
    dispute_resolved_at: datetime | None = None
    dispute_outcome: str | None = None

    def __post_init__(self) -> None:
        """The percentage always follows the points."""
        object.__setattr__(self, "percentage", percentage(self.points_earned, self.points_total))

    @property
    def is_active(self) -> bool:
        """The pair's one active assessment."""
        return self.status.is_active

    @property
    def dispute_open(self) -> bool:
        """A student disputed it and nobody has resolved the dispute yet."""
        return self.disputed_at is not None and self.dispute_outcome is None

    def same_points(self, points_earned: int, points_total: int) -> bool:
        """Content idempotency: notes do not count."""
        return (self.points_earned, self.points_total) == (points_earned, points_total)


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Assessment))
TRANSITION_COLUMNS = ("status", "previous_status", "status_changed_at", "status_changed_by")


@dataclass(frozen=True, slots=True)
class RowEffect:
    """How an event changes its assessment's row.

    `status` is where the assessment moves; `actor` the event field naming who acted;
    `columns` maps row columns to the event fields (or TIMESTAMP) they take; `creates` says the
    event opens the row (its columns then give every value without a default); `reason` is the
    event field a transition log line shows. An effect whose status depends on the event names
    the event field in `outcome` and the status of each of its values in `statuses` (each an
    active one, so whether the row finishes never depends on the event); `status` is then the
    one an unknown value would take.
    """

    status: Status
    actor: str
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    creates: bool = False
    reason: str | None = None
    outcome: str | None = None
    statuses: Mapping[str, Status] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        """A column that is not in the row fails here, when the event class is declared."""
        unknown = set(self.columns) - set(COLUMNS)
        if unknown or set(self.columns) & set(TRANSITION_COLUMNS):
            raise TypeError(f"RowEffect sets columns it may not: {sorted(unknown)}")
        if (self.outcome is None) != (not self.statuses) or any(
            status.is_active != self.status.is_active for status in self.statuses.values()
        ):
            raise TypeError("RowEffect: an outcome field needs statuses, all as final as status")

    def status_of(self, event: Any) -> Status:
        """The status the row takes from this event."""
        if self.outcome is None:
            return self.status
        return self.statuses.get(str(getattr(event, self.outcome)), self.status)

    @property
    def final(self) -> bool:
        """The row leaves the active set for good (nothing changes it afterwards)."""
        return not self.status.is_active

    def changes(self, event: Any, previous: Status) -> dict[str, Any]:
        """The columns this event sets on a row now in `previous` (attribute access only)."""
        values = {column: getattr(event, source) for column, source in self.columns.items()}
        values["status"] = self.status_of(event)
        values["previous_status"] = previous
        values["status_changed_at"] = getattr(event, TIMESTAMP)
        values["status_changed_by"] = getattr(event, self.actor)
        return values

    def apply(self, row: Assessment | None, event: Any) -> Assessment:
        """The row after the event; KeyError when the event needs a row that is not there."""
        if self.creates:
            return Assessment(**self.changes(event, Status.NOT_ASSESSED))
        if row is None:
            raise KeyError(getattr(event, KEY))
        return dataclasses.replace(row, **self.changes(event, row.status))


def effect_of(event: Any) -> RowEffect | None:
    """The event class's declared effect on the read row (None: it touches no assessment row,
    like the events of accounts and licenses)."""
    effect = getattr(type(event), "effect", None)
    return effect if isinstance(effect, RowEffect) else None


def fold(rows: dict[UUID, Assessment], events: Iterable[Any]) -> dict[UUID, Assessment]:
    """Apply events to rows keyed by assessment id (the projection, as a pure function).

    KeyError when an event changes an assessment that `rows` lacks.
    """
    for event in events:
        effect = effect_of(event)
        if effect is not None:
            key = getattr(event, KEY)
            rows[key] = effect.apply(rows.get(key), event)
    return rows


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change, as the seed's `STATE TRANSITION` log line tells it."""

    assessment_id: UUID
    before: Status
    after: Status
    actor: int
    role: str
    reason: str | None


def transitions(rows: Mapping[UUID, Assessment], events: Iterable[Any]) -> list[Transition]:
    """The status changes these events make to `rows` (which are left as they are)."""
    folded = dict(rows)
    changes: list[Transition] = []
    for event in events:
        effect = effect_of(event)
        if effect is None:
            continue
        key = getattr(event, KEY)
        before = folded.get(key)
        after = effect.apply(before, event)
        folded[key] = after
        changes.append(
            Transition(
                key,
                before.status if before is not None else Status.NOT_ASSESSED,
                after.status,
                getattr(event, effect.actor),
                getattr(event, "actor_role", ""),
                getattr(event, effect.reason) if effect.reason else None,
            )
        )
    return changes

"""One batch of the live projection's fold: events in, the rows they touch written back."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from skill_ledger.database import Cursor, Database
from skill_ledger.domain import Assessment, effect_of, fold
from skill_ledger.domain.assessment import KEY
from skill_ledger.readside.table import TABLE, select_by_ids, write_rows
from skill_ledger.readside.tracking import ProjectionError


def apply_events(
    cursor: Cursor, db: Database, after: int, events: list[Any], table: str = TABLE
) -> int:
    """Fold events (those after position `after`) into the rows they touch and write them."""
    effects = [(event, effect_of(event)) for event in events]
    created = {getattr(e, KEY) for e, effect in effects if effect and effect.creates}
    needed = {
        getattr(e, KEY)
        for e, effect in effects
        if effect and not effect.creates and getattr(e, KEY) not in created
    }
    rows = select_by_ids(cursor, db, needed, table)
    missing = needed - rows.keys()
    if missing:
        raise ProjectionError(
            f"Events after position {after} refer to assessments the read table lacks: "
            f"{sorted(map(str, missing))[:5]}"
        )
    fold(rows, events)
    touched: dict[UUID, Assessment] = {
        getattr(e, KEY): rows[getattr(e, KEY)] for e, effect in effects if effect
    }
    return write_rows(cursor, touched.values(), table)

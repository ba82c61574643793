"""Every event the ledger stores, each declared once with its effect on its own table.

Skill records' events change the read row of football_skill_assessments (`RowEffect`); user
accounts' and licenses' events change their row of users or licenses (`TableEffect`). Readers
of the store (the codec, the projector, the bulk rebuild, the auditor) know every topic from
`EVENT_CLASSES` and refuse one they do not know instead of skipping it.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import CanInitAggregate

from skill_ledger.domain.chain import ChainedAggregate
from skill_ledger.domain.license import LICENSE_EVENTS
from skill_ledger.domain.record import RECORD_EVENTS
from skill_ledger.domain.user import USER_EVENTS

ACCOUNT_EVENTS: tuple[type[Any], ...] = (*USER_EVENTS, *LICENSE_EVENTS)
"""Every event of a user account or a license."""
EVENT_CLASSES: tuple[type[Any], ...] = (*RECORD_EVENTS, *ACCOUNT_EVENTS)
"""Every event the ledger stores: skill records' first, then accounts' and licenses'."""


def declared_events() -> set[type[Any]]:
    """Every chained event class defined (not the library's "Created" ones or the bases)."""
    found: set[type[Any]] = set()
    pending = list(ChainedAggregate.Event.__subclasses__())
    while pending:
        cls = pending.pop()
        if not issubclass(cls, CanInitAggregate) and "EFFECT" not in cls.__dict__:
            found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def _check_registry() -> None:
    """Every declared event is listed once, and its type name (hashed in the chain) is unique."""
    if declared_events() != set(EVENT_CLASSES) or len(EVENT_CLASSES) != len(set(EVENT_CLASSES)):
        raise TypeError("EVENT_CLASSES must list every chained event exactly once")
    names = [cls.__name__ for cls in EVENT_CLASSES]
    if len(names) != len(set(names)):
        raise TypeError(f"Event type names must be unique across aggregates: {sorted(names)}")


_check_registry()

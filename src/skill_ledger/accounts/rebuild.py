"""Rebuilding users and licenses from the ledger's account events, keeping the password hashes.

Every row the events give is written as they give it; a row they give that the table lost is
written again with an unusable password (the user needs `ledger users reset-password`); a row
no event gives is deleted. All in one transaction, under the accounts lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError

from skill_ledger.accounts import tables
from skill_ledger.accounts.tables import ACCOUNTS_LOCK, TABLES, UNUSABLE_HASH
from skill_ledger.database import Database
from skill_ledger.domain import ACCOUNT_EVENTS, AccountError, AccountRows, UserRow
from skill_ledger.eventstore.log import EventLog


class AccountHistoryUnreadable(AccountError):
    """An account event cannot be read or replayed: the store was tampered with."""


@dataclass(slots=True)
class AccountRebuild:
    """What a rebuild of users and licenses did."""

    events: int = 0
    rows: int = 0
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0


def rebuild_accounts(db: Database, eventlog: EventLog) -> AccountRebuild:
    """Make users and licenses exactly what the account events give (hashes kept)."""
    started = time.perf_counter()
    done = AccountRebuild()
    with db.transaction() as cursor:
        db.serialize(cursor, ACCOUNTS_LOCK)
        logged = eventlog.read_topics(cursor, [cls.TOPIC for cls in ACCOUNT_EVENTS])
        expected, opened = _fold(eventlog, logged)
        done.events = len(logged)
        live = tables.read_rows(cursor)
        for row_type in TABLES:  # users first: licenses refer to their holders
            table, have = TABLES[row_type], live.table_of(row_type)
            for key, row in sorted(expected.table_of(row_type).items()):
                done.rows += 1
                if key not in have:
                    kept: dict[str, Any] = {"created_at": opened[(table, key)]}
                    if row_type is UserRow:
                        kept["password_hash"] = UNUSABLE_HASH
                    tables.insert_row(cursor, row, **kept)
                    done.restored.append(f"{table} {key}")
                elif have[key] != row:
                    tables.update_row(cursor, row)
                    done.updated.append(f"{table} {key}")
        for row_type in reversed(tuple(TABLES)):  # licenses first: they refer to users
            table, want = TABLES[row_type], expected.table_of(row_type)
            for key in sorted(live.table_of(row_type).keys() - want.keys()):
                tables.delete_row(cursor, row_type, key)
                done.deleted.append(f"{table} {key}")
    done.seconds = time.perf_counter() - started
    return done


def _fold(
    eventlog: EventLog, logged: list[Any]
) -> tuple[AccountRows, dict[tuple[str, int], datetime]]:
    rows = AccountRows()
    opened: dict[tuple[str, int], datetime] = {}
    for raw in logged:
        try:
            event = eventlog.decode(raw)
            row = rows.apply(event)
        except (MapperDeserialisationError, KeyError) as e:
            raise AccountHistoryUnreadable(
                f"The account event at position {raw.position} cannot be replayed ({e}): "
                "run `ledger audit verify`"
            ) from None
        if event.effect.creates:
            opened[(TABLES[event.effect.row], row.id)] = event.timestamp
    return rows, opened

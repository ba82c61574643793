"""The account tables checked against the ledger: users and licenses rows as the events give them.

The walk folds every account event of the log (`AccountRows`, the domain's own projection);
the diff then names each row and column of `users` or `licenses` that differs from it, and
the rows one side has and the other lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from skill_ledger.accounts.tables import FIELDS, TABLES, read_rows
from skill_ledger.audit.findings import Finding, FindingKind, VerifyReport
from skill_ledger.audit.records import EventRecord
from skill_ledger.database import Cursor
from skill_ledger.domain import (
    AccountRows,
    LicenseRow,
    UserRow,
    format_time,
    license_stream_id,
    user_stream_id,
)

Where = tuple[str, int, int]
STREAM_OF: dict[type[Any], Callable[[int], Any]] = {
    UserRow: user_stream_id,
    LicenseRow: license_stream_id,
}


class AccountWalk:
    """The log's account events folded into rows, and which event last changed each row."""

    def __init__(self, flag: Callable[[Finding], None]) -> None:
        self.flag = flag
        self.rows = AccountRows()
        self.touched: dict[tuple[str, int], Where] = {}

    def visit(self, event: Any, record: EventRecord) -> None:
        """Fold one account event; a change to a row no earlier event opened is a finding."""
        effect = event.effect
        table, key = TABLES[effect.row], getattr(event, effect.key)
        where = (record.stream, record.version, record.position)
        try:
            self.rows.apply(event)
        except KeyError:
            self.flag(
                Finding(
                    FindingKind.REPLAY_FAILED,
                    f"{record.type} changes {table} row {key}, which no earlier event created",
                    *where,
                    table=table,
                    row=str(key),
                )
            )
            return
        self.touched[(table, key)] = where


def diff_account_tables(cursor: Cursor, walk: AccountWalk, report: VerifyReport) -> None:
    """Compare users and licenses, column by column, with the rows the events give."""
    live = read_rows(cursor)
    for row_type in TABLES:
        table = TABLES[row_type]
        expected: dict[int, Any] = walk.rows.table_of(row_type)
        actual: dict[int, Any] = live.table_of(row_type)
        for key in sorted(expected.keys() | actual.keys()):
            report.account_rows_compared += 1
            want, have = expected.get(key), actual.get(key)
            if want is None:
                report.add(
                    Finding(
                        FindingKind.ACCOUNT_TABLE_EXTRA_ROW,
                        f"{table} has a row that no event of the ledger gives",
                        str(STREAM_OF[row_type](key)),
                        table=table,
                        row=str(key),
                    )
                )
                continue
            where = walk.touched[(table, key)]
            if have is None:
                report.add(
                    Finding(
                        FindingKind.ACCOUNT_TABLE_MISSING_ROW,
                        f"the events give this row but {table} lacks it",
                        *where,
                        table=table,
                        row=str(key),
                    )
                )
                continue
            for column in FIELDS[row_type]:
                should, actual_value = getattr(want, column), getattr(have, column)
                if should != actual_value:
                    report.add(
                        Finding(
                            FindingKind.ACCOUNT_TABLE_DIFFERING_ROW,
                            f"{table} has {_show(actual_value)}, the events give {_show(should)}",
                            *where,
                            table=table,
                            row=str(key),
                            column=column,
                        )
                    )


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    return repr(value.value if isinstance(value, StrEnum) else value)

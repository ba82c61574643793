"""The football_skill_assessments table: its SQL and row mapping, all derived from the domain's row.

Column names and order are the fields of `domain.Assessment`; which columns an upsert may change
are those the events' `RowEffect`s change after a row is created.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from skill_ledger.database import Cursor, Database, as_optional_time, as_time, as_uuid
from skill_ledger.domain import COLUMNS, RECORD_EVENTS, Assessment
from skill_ledger.domain.assessment import TRANSITION_COLUMNS

TABLE = "football_skill_assessments"
PROJECTION_VERSION = 1
"""The version of the fold that fills TABLE. Raise it when the fold changes what a row holds:
the leading projector of the new code finds the older version in the tracking row, rebuilds
the table in the background (blue-green on PostgreSQL) and swaps it in when caught up."""
MUTABLE: tuple[str, ...] = tuple(
    column
    for column in COLUMNS
    if column in TRANSITION_COLUMNS
    or any(column in cls.effect.columns for cls in RECORD_EVENTS if not cls.effect.creates)
)


def select_from(table: str) -> str:
    """SELECT of every column of `table` (the live table, or one a rebuild fills beside it)."""
    return f"SELECT {', '.join(COLUMNS)} FROM {table}"


def upsert_into(table: str) -> str:
    """The upsert of a row into `table`: only MUTABLE columns change on conflict."""
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
        f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in MUTABLE)}"
    )


SELECT = select_from(TABLE)
UPSERT = upsert_into(TABLE)
COMPUTED = frozenset({"percentage"})
"""Columns the row computes itself (stored for analysts, never read back)."""
FALLBACKS = {
    "previous_status": "NOT_ASSESSED",
    "status_changed_at": "assessed_at",
    "status_changed_by": "assessed_by",
}
"""Where a NULL in a column that predates its events is read from instead."""


def _reader(annotation: Any) -> Callable[[Any], Any]:
    """How a column value of this field type is read from either backend."""
    optional = isinstance(annotation, types.UnionType) and type(None) in annotation.__args__
    base = next(t for t in annotation.__args__ if t is not type(None)) if optional else annotation
    if base is datetime:
        return as_optional_time if optional else as_time
    if base is UUID:
        return as_uuid
    if isinstance(base, type) and issubclass(base, StrEnum):
        return base
    if base is bool:
        return bool
    return lambda value: value


_TYPES = typing.get_type_hints(Assessment)
_READERS = tuple(
    (index, column, _reader(_TYPES[column]))
    for index, column in enumerate(COLUMNS)
    if column not in COMPUTED
)
_INDEX = {column: index for index, column in enumerate(COLUMNS)}


def row_values(row: Assessment) -> tuple[Any, ...]:
    """An assessment as the parameter tuple of COLUMNS (statuses as their text)."""
    return tuple(
        value.value if isinstance(value, StrEnum) else value
        for value in (getattr(row, column) for column in COLUMNS)
    )


def from_row(row: Sequence[Any]) -> Assessment:
    """A table row (COLUMNS order) as an assessment."""
    values: dict[str, Any] = {}
    for index, column, read in _READERS:
        value = row[index]
        if value is None and column in FALLBACKS:
            fallback = FALLBACKS[column]
            value = row[_INDEX[fallback]] if fallback in _INDEX else fallback
        values[column] = None if value is None else read(value)
    return Assessment(**values)


def select_by_ids(
    cursor: Cursor, db: Database, ids: Iterable[UUID], table: str = TABLE
) -> dict[UUID, Assessment]:
    """Rows with these ids (missing ids are simply absent)."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = db.select_in(cursor, SELECT if table == TABLE else select_from(table), "id", wanted)
    return {assessment.id: assessment for assessment in map(from_row, rows)}


def write_rows(cursor: Cursor, rows: Iterable[Assessment], table: str = TABLE) -> int:
    """Upsert rows, inactive ones first so a replacement never collides on the active index."""
    ordered = sorted(rows, key=lambda row: row.is_active)
    if ordered:
        upsert = UPSERT if table == TABLE else upsert_into(table)
        cursor.executemany(upsert, [row_values(row) for row in ordered])
    return len(ordered)

"""The football_skill_assessments read table: row mapping, queries, and the command directory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from skill_ledger.database import Cursor, Database, as_optional_time, as_time, as_uuid
from skill_ledger.domain import Assessment, Status

TABLE = "football_skill_assessments"
COLUMNS = (
    "id",
    "user_license_id",
    "skill_name",
    "points_earned",
    "points_total",
    "percentage",
    "notes",
    "status",
    "requires_validation",
    "assessed_by",
    "assessed_at",
    "validated_by",
    "validated_at",
    "archived_by",
    "archived_at",
    "archived_reason",
    "previous_status",
    "status_changed_at",
    "status_changed_by",
)
MUTABLE = (
    "status",
    "validated_by",
    "validated_at",
    "archived_by",
    "archived_at",
    "archived_reason",
    "previous_status",
    "status_changed_at",
    "status_changed_by",
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
UPSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in MUTABLE)}"
)
SQLITE_MAX_PARAMS = 900


def row_values(row: Assessment) -> tuple[Any, ...]:
    """An assessment as the parameter tuple of COLUMNS."""
    return (
        row.id,
        row.user_license_id,
        row.skill_name,
        row.points_earned,
        row.points_total,
        row.percentage,
        row.notes,
        row.status.value,
        row.requires_validation,
        row.assessed_by,
        row.assessed_at,
        row.validated_by,
        row.validated_at,
        row.archived_by,
        row.archived_at,
        row.archived_reason,
        row.previous_status.value,
        row.status_changed_at,
        row.status_changed_by,
    )


def from_row(row: Sequence[Any]) -> Assessment:
    """A table row (COLUMNS order) as an assessment."""
    return Assessment(
        id=as_uuid(row[0]),
        user_license_id=int(row[1]),
        skill_name=row[2],
        points_earned=int(row[3]),
        points_total=int(row[4]),
        notes=row[6],
        status=Status(row[7]),
        requires_validation=bool(row[8]),
        assessed_by=int(row[9]),
        assessed_at=as_time(row[10]),
        validated_by=row[11],
        validated_at=as_optional_time(row[12]),
        archived_by=row[13],
        archived_at=as_optional_time(row[14]),
        archived_reason=row[15],
        previous_status=Status(row[16] or Status.NOT_ASSESSED),
        status_changed_at=as_time(row[17] or row[10]),
        status_changed_by=int(row[18] if row[18] is not None else row[9]),
    )


def select_by_ids(
    cursor: Cursor, ids: Iterable[UUID], *, is_postgres: bool
) -> dict[UUID, Assessment]:
    """Rows with these ids (missing ids are simply absent)."""
    wanted = list(ids)
    found: dict[UUID, Assessment] = {}
    if not wanted:
        return found
    if is_postgres:
        cursor.execute(f"{SELECT} WHERE id = ANY(%s)", (wanted,))
        rows = cursor.fetchall()
    else:
        rows = []
        for start in range(0, len(wanted), SQLITE_MAX_PARAMS):
            chunk = wanted[start : start + SQLITE_MAX_PARAMS]
            cursor.execute(f"{SELECT} WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)
            rows.extend(cursor.fetchall())
    for row in rows:
        assessment = from_row(row)
        found[assessment.id] = assessment
    return found


def write_rows(cursor: Cursor, rows: Iterable[Assessment]) -> int:
    """Upsert rows, archived ones first so a replacement never collides on the active index."""
    ordered = sorted(rows, key=lambda row: row.status is not Status.ARCHIVED)
    if ordered:
        cursor.executemany(UPSERT, [row_values(row) for row in ordered])
    return len(ordered)


class ReadModel:
    """Queries on the read table, and the lookups commands need (the Directory port)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, assessment_id: UUID) -> Assessment | None:
        """One assessment by id."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"{SELECT} WHERE id = %s", (assessment_id,))
            row = cursor.fetchone()
        return from_row(row) if row else None

    def history(self, license_id: int, skill_name: str) -> list[Assessment]:
        """Every assessment of a pair, newest first."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"{SELECT} WHERE user_license_id = %s AND skill_name = %s "
                "ORDER BY assessed_at DESC, status_changed_at DESC",
                (license_id, skill_name),
            )
            rows = cursor.fetchall()
        return [from_row(row) for row in rows]

    def all(self) -> dict[UUID, Assessment]:
        """The whole table keyed by id (for verification and tests)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(SELECT)
            rows = cursor.fetchall()
        return {row.id: row for row in map(from_row, rows)}

    def locate(self, assessment_id: UUID) -> tuple[int, str] | None:
        """The (license, skill) pair of an assessment."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT user_license_id, skill_name FROM {TABLE} WHERE id = %s", (assessment_id,)
            )
            row = cursor.fetchone()
        return (int(row[0]), row[1]) if row else None

    def assessments_made_by(self, user_id: int, at_most: int) -> int:
        """How many assessments a user has made, counting no further than at_most."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {TABLE} "
                "WHERE assessed_by = %s LIMIT %s) AS made",
                (user_id, at_most),
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def license_exists(self, license_id: int) -> bool:
        """True when the license exists."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT 1 FROM licenses WHERE id = %s", (license_id,))
            return cursor.fetchone() is not None

"""Queries on the read table, and the lookups commands need (the application's Directory port)."""

from __future__ import annotations

from uuid import UUID

from skill_ledger.database import Database
from skill_ledger.domain import Assessment
from skill_ledger.readside.table import SELECT, TABLE, from_row


class ReadModel:
    """What the API and the commands read from football_skill_assessments and licenses."""

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

"""Queries on the read table, and the lookups commands need (the application's Directory port)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from skill_ledger.database import Database
from skill_ledger.domain import ACTIVE_STATUSES, COLUMNS, Assessment, Status
from skill_ledger.readside.table import SELECT, TABLE, from_row

ACTIVE = ", ".join(["%s"] * len(ACTIVE_STATUSES))


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

    def license_holder(self, license_id: int) -> int | None:
        """The user id holding the license, None when it does not exist."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT holder_id FROM licenses WHERE id = %s", (license_id,))
            row = cursor.fetchone()
        return int(row[0]) if row else None

    def disputes(
        self, *, open_only: bool | None, after: UUID | None, limit: int, holder: int | None
    ) -> list[Assessment]:
        """Disputed assessments in dispute order (time, then id), after the one named `after`:
        open ones, resolved ones or both; only those of licenses `holder` holds, if given."""
        where = ["a.disputed_at IS NOT NULL"]
        values: list[object] = []
        if open_only is not None:
            where.append(f"a.dispute_outcome IS {'' if open_only else 'NOT '}NULL")
        if holder is not None:
            where.append("a.user_license_id IN (SELECT id FROM licenses WHERE holder_id = %s)")
            values.append(holder)
        if after is not None:
            where.append(
                "(a.disputed_at, a.id) > (SELECT b.disputed_at, b.id FROM "
                f"{TABLE} AS b WHERE b.id = %s)"
            )
            values.append(after)
        aliased = ", ".join(f"a.{column}" for column in COLUMNS)
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT {aliased} FROM {TABLE} AS a WHERE {' AND '.join(where)} "
                "ORDER BY a.disputed_at, a.id LIMIT %s",
                (*values, limit),
            )
            rows = cursor.fetchall()
        return [from_row(row) for row in rows]

    def license_exists(self, license_id: int) -> bool:
        """True when the license exists."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT 1 FROM licenses WHERE id = %s", (license_id,))
            return cursor.fetchone() is not None

    def awaiting_validation(self, limit: int) -> list[Assessment]:
        """Assessments waiting for an admin's validation, oldest first."""
        return self._rows(
            f"{SELECT} WHERE status = %s AND requires_validation = %s "
            "ORDER BY assessed_at, id LIMIT %s",
            (Status.ASSESSED.value, True, limit),
        )

    def made_by(self, user_id: int, limit: int) -> list[Assessment]:
        """The assessments a user made, newest first."""
        return self._rows(
            f"{SELECT} WHERE assessed_by = %s ORDER BY assessed_at DESC, id LIMIT %s",
            (user_id, limit),
        )

    def active_on(self, license_id: int) -> list[Assessment]:
        """A license's active assessments (one per assessed skill), by skill."""
        return self._rows(
            f"{SELECT} WHERE user_license_id = %s AND status IN ({ACTIVE}) ORDER BY skill_name",
            (license_id, *sorted(status.value for status in ACTIVE_STATUSES)),
        )

    def made_before(self, user_id: int, moment: datetime, at_most: int) -> int:
        """How many assessments a user made before a moment, counting no further than at_most."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {TABLE} "
                "WHERE assessed_by = %s AND assessed_at < %s LIMIT %s) AS made",
                (user_id, moment, at_most),
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[Assessment]:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [from_row(row) for row in rows]

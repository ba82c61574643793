"""Revision 2026_11_29_1500 on both backends: rows kept, DISPUTED admitted and covered by the
active index, the downgrade refused while disputes exist."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import psycopg
import pytest

from skill_ledger import migrate as schema
from skill_ledger.domain import Status
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import seed_cast

BEFORE = "2026_11_29_1400"
ROW = (
    "INSERT INTO football_skill_assessments (id, user_license_id, skill_name, points_earned, "
    "points_total, percentage, notes, assessed_by, assessed_at, requires_validation, status, "
    "previous_status, status_changed_at, status_changed_by) VALUES "
    "({m}, 1, {m}, 5, 10, 50.0, '', 1, {m}, false, {m}, 'NOT_ASSESSED', {m}, 1)"
)


def test_the_upgrade_keeps_rows_and_the_postgres_check_and_index_are_valid(
    empty_postgres_url: DatabaseURL,
) -> None:
    url = empty_postgres_url
    schema.upgrade(url, BEFORE)
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        at = "2026-11-29T12:00:00Z"
        for skill, status in (("passing", "VALIDATED"), ("dribbling", "ARCHIVED")):
            conn.execute(ROW.format(m="%s"), (uuid4(), skill, at, status, at))
    schema.upgrade(url)
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        (validated,) = conn.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_skill_assessment_status'"
        ).fetchone() or (None,)
        indexes = conn.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
            "JOIN pg_class AS c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'football_skill_assessments'::regclass"
        ).fetchall()
        rows = conn.execute("SELECT status FROM football_skill_assessments").fetchall()
        conn.execute("UPDATE football_skill_assessments SET status = 'DISPUTED' "
                     "WHERE skill_name = 'passing'")  # fmt: skip
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE football_skill_assessments SET status = 'LOST'")

    assert validated is True
    by_name = {name: (valid, definition) for name, valid, definition in indexes}
    assert all(valid for valid, _ in by_name.values())
    assert "DISPUTED" in by_name["uq_skill_assessment_active"][1]
    assert "uq_skill_assessment_active_new" not in by_name
    assert "ix_skill_assessments_disputed" in by_name
    assert sorted(status for (status,) in rows) == ["ARCHIVED", "VALIDATED"]


def test_a_second_active_row_of_a_pair_is_refused_while_one_is_disputed(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    made = services.ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10)
    services.projector.catch_up()
    services.ledger.validate(cast.admin, made.assessment_id)
    services.projector.catch_up()
    services.ledger.dispute(cast.student, made.assessment_id, "why")
    services.projector.catch_up()
    row = services.readmodel.get(made.assessment_id)
    assert row is not None
    assert row.status is Status.DISPUTED
    mark = "%s"
    with pytest.raises(services.db.statement_errors), services.db.transaction() as cursor:
        cursor.execute(
            ROW.format(m=mark),
            (uuid4(), "passing", "2026-11-29T12:00:00.000000Z", "ASSESSED", "2026-11-29"),
        )


def test_the_downgrade_refuses_while_disputes_exist_and_proceeds_without(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    made = services.ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10)
    services.projector.catch_up()
    services.ledger.validate(cast.admin, made.assessment_id)
    services.projector.catch_up()
    services.close()
    schema.downgrade(database_url, BEFORE)
    assert schema.current(database_url) == BEFORE
    schema.upgrade(database_url)

    services = open_services(database_url)
    services.ledger.dispute(cast.student, made.assessment_id, "why")
    services.projector.catch_up()
    services.close()
    with pytest.raises(RuntimeError, match="Refusing to downgrade below 2026_11_29_1500") as e:
        schema.downgrade(database_url, BEFORE)
    assert "1 dispute events and 1 disputed assessments" in str(e.value)
    with pytest.raises(RuntimeError, match="Refusing to downgrade"):
        schema.downgrade(database_url, BEFORE, force=True)
    assert schema.current(database_url) == schema.head()

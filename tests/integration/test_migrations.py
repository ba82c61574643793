"""Alembic migrations on fresh, empty PostgreSQL databases and SQLite files: up, down, up."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy

from skill_ledger import migrate as schema
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS, revision_below, seed_cast

READ_TABLE = "football_skill_assessments"
EVENT_STORE_REVISION = "2026_11_25_0900"
READ_TABLE_REVISION = "2026_11_25_0920"
LIFECYCLE_COLUMNS = {
    "status",
    "validated_by",
    "validated_at",
    "requires_validation",
    "archived_by",
    "archived_at",
    "archived_reason",
    "previous_status",
    "status_changed_at",
    "status_changed_by",
}


@pytest.fixture
def fresh_url(empty_database_url: DatabaseURL) -> DatabaseURL:
    """An empty, not migrated database of each backend."""
    return empty_database_url


def table_names(url: DatabaseURL) -> set[str]:
    """The tables the database holds now."""
    engine = sqlalchemy.create_engine(url.sqlalchemy_url(), poolclass=sqlalchemy.pool.NullPool)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def tracking_names(url: DatabaseURL) -> set[str]:
    """application_name of every projection_tracking row."""
    engine = sqlalchemy.create_engine(url.sqlalchemy_url(), poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT application_name FROM projection_tracking")
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def test_upgrade_brings_a_fresh_database_to_head(fresh_url: DatabaseURL) -> None:
    assert schema.current(fresh_url) is None
    schema.upgrade(fresh_url)
    assert schema.current(fresh_url) == schema.head()
    assert {READ_TABLE, "users", "licenses", "projection_tracking"} <= table_names(fresh_url)


def test_downgrade_one_then_upgrade_head_round_trips(fresh_url: DatabaseURL) -> None:
    schema.upgrade(fresh_url)
    tables = table_names(fresh_url)
    schema.downgrade(fresh_url, "-1")
    assert schema.current(fresh_url) == revision_below(schema.head())
    schema.upgrade(fresh_url, "head")
    assert schema.current(fresh_url) == schema.head()
    assert table_names(fresh_url) == tables


def test_downgrading_past_the_read_table_drops_it_and_upgrade_lets_the_projector_rebuild_it(
    fresh_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    schema.upgrade(fresh_url)
    services = open_services(fresh_url)
    cast = seed_cast(services)
    first = services.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 6, 10)
    services.ledger.assess(cast.other_instructor, cast.license_id, "dribbling", 9, 10)
    services.projector.catch_up()
    services.ledger.archive(cast.admin, first.assessment_id, "duplicate")  # already archived
    dribbling = services.readmodel.history(cast.license_id, "dribbling")[0]
    services.ledger.validate(cast.admin, dribbling.id)
    services.projector.catch_up()
    before = services.readmodel.all()
    services.close()
    assert READ_TABLE in tracking_names(fresh_url)

    # Forced: on the way down, the accounts' history (the cast's registrations) is dropped too;
    # the upgrade gives the accounts opening events again.
    schema.downgrade(fresh_url, revision_below(READ_TABLE_REVISION), force=True)
    assert READ_TABLE not in table_names(fresh_url)
    assert READ_TABLE not in tracking_names(fresh_url)

    schema.upgrade(fresh_url, "head")
    reopened = open_services(fresh_url)
    assert reopened.readmodel.all() == {}
    assert reopened.projector.status().position == 0
    assert reopened.projector.catch_up() == 5 + CAST_EVENTS
    assert reopened.readmodel.all() == before
    assert {row.status.value for row in before.values()} == {"ARCHIVED", "ASSESSED", "VALIDATED"}


def test_event_store_downgrade_refuses_while_events_exist_and_keeps_everything(
    fresh_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    schema.upgrade(fresh_url)
    services = open_services(fresh_url)
    cast = seed_cast(services)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 4, 10)
    services.close()

    with pytest.raises(RuntimeError, match="Refusing to drop the event store"):
        schema.downgrade(fresh_url, "base")

    # One transaction on both backends: the steps before the refusal are rolled back too,
    # so accounts (not reconstructible from events) survive.
    assert schema.current(fresh_url) == schema.head()
    reopened = open_services(fresh_url)
    assert reopened.accounts.find_user(cast.student_email) is not None
    assert reopened.projector.status().head == 1 + CAST_EVENTS


def test_event_store_downgrade_proceeds_on_an_empty_store(fresh_url: DatabaseURL) -> None:
    schema.upgrade(fresh_url)
    schema.downgrade(fresh_url, "base")
    assert schema.current(fresh_url) is None
    assert table_names(fresh_url) <= {"alembic_version"}
    schema.upgrade(fresh_url, EVENT_STORE_REVISION)
    assert schema.current(fresh_url) == EVENT_STORE_REVISION


# -- the seed's "Step 3: Verify Schema Changes", verbatim, on PostgreSQL ---------------------

STEP3_COLUMNS = """
SELECT column_name, data_type, is_nullable
FROM information_schema.columns
WHERE table_name = 'football_skill_assessments'
  AND column_name IN (
    'status', 'validated_by', 'validated_at', 'requires_validation',
    'archived_by', 'archived_at', 'archived_reason',
    'previous_status', 'status_changed_at', 'status_changed_by'
  )
"""
STEP3_CHECK = """
SELECT conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conname = 'ck_skill_assessment_status'
"""
STEP3_INDEX = """
SELECT indexname, indexdef
FROM pg_indexes
WHERE indexname = 'uq_skill_assessment_active'
"""


@pytest.fixture
def migrated_postgres(empty_postgres_url: DatabaseURL) -> Iterator[psycopg.Connection]:
    """A connection to a fresh PostgreSQL database after `upgrade head`."""
    schema.upgrade(empty_postgres_url)
    with psycopg.connect(empty_postgres_url.conninfo()) as conn:
        yield conn


def test_step3_finds_the_ten_lifecycle_columns(migrated_postgres: psycopg.Connection) -> None:
    rows = migrated_postgres.execute(STEP3_COLUMNS).fetchall()
    assert len(rows) == 10
    assert {row[0] for row in rows} == LIFECYCLE_COLUMNS
    types = {row[0]: row[1] for row in rows}
    assert types["requires_validation"] == "boolean"
    assert types["validated_at"] == "timestamp with time zone"
    assert types["status"] == "text"


def test_step3_finds_the_status_check_constraint(migrated_postgres: psycopg.Connection) -> None:
    rows = migrated_postgres.execute(STEP3_CHECK).fetchall()
    assert len(rows) == 1
    name, definition = rows[0]
    assert name == "ck_skill_assessment_status"
    # PostgreSQL renders `status IN (…)` as `status = ANY (ARRAY[…])`.
    assert definition.startswith("CHECK")
    assert "status" in definition
    for status in ("NOT_ASSESSED", "ASSESSED", "VALIDATED", "ARCHIVED"):
        assert f"'{status}'" in definition


def test_step3_finds_the_partial_unique_index_on_active_rows(
    migrated_postgres: psycopg.Connection,
) -> None:
    rows = migrated_postgres.execute(STEP3_INDEX).fetchall()
    assert len(rows) == 1
    name, definition = rows[0]
    assert name == "uq_skill_assessment_active"
    assert definition.startswith("CREATE UNIQUE INDEX uq_skill_assessment_active")
    assert "(user_license_id, skill_name)" in definition
    where = definition.split(" WHERE ", 1)[1]
    assert "'ASSESSED'" in where
    assert "'VALIDATED'" in where
    assert "ARCHIVED" not in where

"""The migration that records existing accounts in the ledger: exactly the code's opening events,
verifiable, reversible while nothing else was recorded, refusing to drop history otherwise."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest

from skill_ledger import migrate
from skill_ledger.database import Database, open_database
from skill_ledger.domain import (
    ACCOUNT_EVENTS,
    MIGRATION,
    License,
    LicenseRow,
    Role,
    UserAccount,
    UserRow,
)
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import cheap_hasher, revision_below

REVISION = "2026_11_29_1300"
BEFORE = revision_below(REVISION)
USERS = (
    UserRow(id=1, email="ada@academy.test", name="Ada Admin", role=Role.ADMIN, active=True),
    UserRow(
        id=2,
        email="Zoë.O'Brien@academy.test",
        name='Zoë "Zed" O\'Brien — ünïcode ⚽',
        role=Role.INSTRUCTOR,
        active=False,
    ),
    UserRow(id=3, email="sam@academy.test", name="Sam", role=Role.STUDENT, active=True),
    UserRow(id=5, email="kim@academy.test", name="Kim\ttab", role=Role.STUDENT, active=True),
)
LICENSES = (LicenseRow(id=1, holder_id=3), LicenseRow(id=4, holder_id=5))


@pytest.fixture
def old_store(empty_database_url: DatabaseURL) -> DatabaseURL:
    """A database at the revision before accounts were recorded, holding users and licenses."""
    migrate.upgrade(empty_database_url, BEFORE)
    db = open_database(empty_database_url)
    password_hash = cheap_hasher().hash("correct horse battery")
    with db.transaction() as cursor:
        for user in USERS:
            cursor.execute(
                "INSERT INTO users (id, email, name, role, password_hash, active) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (user.id, user.email, user.name, user.role.value, password_hash, user.active),
            )
        for license_ in LICENSES:
            cursor.execute(
                "INSERT INTO licenses (id, holder_id) VALUES (%s, %s)",
                (license_.id, license_.holder_id),
            )
    db.close()
    return empty_database_url


def stored_account_events(services: Services) -> list[Any]:
    topics = [cls.TOPIC for cls in ACCOUNT_EVENTS]
    with services.db.transaction(write=False) as cursor:
        return services.eventlog.read_topics(cursor, topics)


def test_the_migration_writes_exactly_the_opening_events_the_code_writes(
    old_store: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    migrate.upgrade(old_store)
    services = open_services(old_store)
    stored = stored_account_events(services)

    at = services.eventlog.decode(stored[0]).timestamp
    expected: list[Any] = []
    for aggregate in [
        *(UserAccount.opening(user, at=at) for user in USERS),
        *(License.opening(license_, at=at) for license_ in LICENSES),
    ]:
        expected.extend(aggregate.collect_events())
    written = [services.eventlog.mapper.to_stored_event(event) for event in expected]

    assert [(UUID(row.stream_id), row.version, row.topic, bytes(row.state)) for row in stored] == [
        (event.originator_id, event.originator_version, event.topic, bytes(event.state))
        for event in written
    ]
    assert [type(services.eventlog.decode(row)).__name__ for row in stored] == [
        "Registered",
        "Registered",
        "Deactivated",  # the inactive user: registered, then deactivated
        "Registered",
        "Registered",
        "Issued",
        "Issued",
    ]
    report = services.audit.verify()
    assert report.ok, [str(finding) for finding in report.findings]
    assert report.account_rows_compared == len(USERS) + len(LICENSES)
    opened = [
        user if user.active else dataclasses.replace(user, tokens_valid_after=at) for user in USERS
    ]
    assert [user.row() for user in services.accounts.users()] == opened


def test_a_migrated_account_takes_commands_that_chain_from_its_opening(
    old_store: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    migrate.upgrade(old_store)
    services = open_services(old_store)

    reactivated, changed = services.accounts.activate(2)
    transferred, moved = services.accounts.transfer_license(1, 5)

    assert (reactivated.active, changed, transferred.holder_id, moved) == (True, True, 5, True)
    history = services.trail.feed(after=0, limit=100).events
    assert {e.role for e in history[:-2]} == {MIGRATION}
    assert [(e.type, e.version, e.role) for e in history[-2:]] == [
        ("Reactivated", 3, "operator"),
        ("Transferred", 2, "operator"),
    ]
    assert history[-2].prev_hash == history[2].hash  # the Deactivated opening event
    assert services.audit.verify().ok


def test_downgrade_drops_only_opening_events_and_upgrade_writes_them_again(
    old_store: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    migrate.upgrade(old_store, REVISION)
    migrate.downgrade(old_store, BEFORE)
    assert migrate.current(old_store) == BEFORE
    db = open_database(old_store)
    assert count_events(db) == 0
    db.close()

    migrate.upgrade(old_store)
    services = open_services(old_store)
    assert len(stored_account_events(services)) == 7
    services.accounts.add_user("new@academy.test", "New", Role.AUDITOR, "long enough")
    assert services.audit.verify().ok  # ids continue after the rows the migration found


def test_downgrade_refuses_to_drop_recorded_account_history_unless_forced(
    old_store: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    migrate.upgrade(old_store)
    services = open_services(old_store)
    services.accounts.activate(2)
    services.close()
    migrate.downgrade(old_store, REVISION)

    with pytest.raises(RuntimeError, match=r"account history: \w+ holds 1 account events"):
        migrate.downgrade(old_store, BEFORE)
    assert migrate.current(old_store) == REVISION

    migrate.downgrade(old_store, BEFORE, force=True)
    db = open_database(old_store)
    assert count_events(db) == 0
    with db.transaction(write=False) as cursor:
        cursor.execute("SELECT active FROM users WHERE id = 2")
        assert bool(cursor.fetchone()[0]) is True  # the tables keep what the events said
    db.close()
    assert migrate.current(old_store) == BEFORE


def count_events(db: Database) -> int:
    with db.transaction(write=False) as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {db.events_table}")
        return int(cursor.fetchone()[0])


def test_the_migration_inserts_under_the_event_stores_table_lock(
    empty_postgres_url: DatabaseURL,
) -> None:
    """ROW SHARE lets plain inserts through but not the recorder's EXCLUSIVE lock: the migration
    waits for it, as ledger_insert_events does."""
    migrate.upgrade(empty_postgres_url, BEFORE)
    with psycopg.connect(empty_postgres_url.conninfo(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (email, name, role, password_hash) VALUES ('a@b.test', 'A', "
            "'admin', 'x')"
        )
    holder = psycopg.connect(empty_postgres_url.conninfo())
    holder.execute("LOCK TABLE ledger_events IN ROW SHARE MODE")
    upgrade = threading.Thread(target=migrate.upgrade, args=(empty_postgres_url,))
    upgrade.start()
    try:
        waited = wait_for_lock_request(empty_postgres_url, "ExclusiveLock")
    finally:
        holder.rollback()
        holder.close()
        upgrade.join(timeout=60)
    assert waited
    assert migrate.current(empty_postgres_url) == migrate.head()


def wait_for_lock_request(url: DatabaseURL, mode: str, seconds: float = 30.0) -> bool:
    """True once some session waits for `mode` on ledger_events (polled until `seconds`)."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT 1 FROM pg_locks WHERE relation = 'ledger_events'::regclass "
                "AND mode = %s AND NOT granted",
                (mode,),
            ).fetchone()
            if row is not None:
                return True
            time.sleep(0.05)
    return False

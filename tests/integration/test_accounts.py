"""Accounts on real databases: each change an event of the ledger, its row written with it, the
tables verified against the events and rebuilt from them."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from skill_ledger.accounts import tables
from skill_ledger.audit.findings import FindingKind, VerifyReport
from skill_ledger.domain import (
    ACCOUNT_EVENTS,
    AccountConflict,
    Actor,
    LedgerError,
    NotPermitted,
    Role,
    license_stream_id,
    user_stream_id,
)
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import PASSWORD, Cast, seed_cast
from tests.integration.test_account_migration import wait_for_lock_request

NEW_PASSWORD = "a brand new password"


def account_events(services: Services) -> list[Any]:
    """Every account event of the log, as the auditors' export shows it."""
    topics = {cls.TOPIC for cls in ACCOUNT_EVENTS}
    return [e for e in services.trail.feed(0, 1000).events if e.payload and topic_of(e) in topics]


def topic_of(record: Any) -> str:
    prefix = "License" if record.type in ("Issued", "Transferred") else "UserAccount"
    return f"skill_ledger.domain:{prefix}.{record.type}"


def sql(url: DatabaseURL, statement: str, *params: Any) -> None:
    """Write behind the ledger's back, as someone with SQL access would."""
    if url.is_postgres:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute(statement, params)
    else:
        with sqlite3.connect(url.path) as conn:
            conn.execute(statement.replace("%s", "?"), params)


def verified(services: Services) -> VerifyReport:
    return services.audit.verify()


# -- commands are events, visible at once -----------------------------------------------------


def test_a_new_user_can_log_in_at_once_and_their_registration_is_in_the_ledger(
    services: Services, cast: Cast
) -> None:
    user = services.accounts.add_user("kim@academy.test", "Kim", Role.INSTRUCTOR, PASSWORD)

    assert services.accounts.authenticate("KIM@academy.test", PASSWORD) == user
    [registered] = [e for e in account_events(services) if e.stream == str(user_stream_id(user.id))]
    assert (registered.type, registered.version, registered.actor, registered.role) == (
        "Registered",
        1,
        None,
        "operator",
    )
    assert registered.payload is not None
    assert registered.payload["role"] == "instructor"
    assert verified(services).ok


def test_deactivation_refuses_logins_and_tokens_and_is_recorded_with_the_admin(
    services: Services, cast: Cast
) -> None:
    instructor = cast.instructor.user_id
    assert services.accounts.active_user(instructor) is not None

    user, changed = services.accounts.deactivate(instructor, by=cast.admin)
    _, changed_again = services.accounts.deactivate(instructor, by=cast.admin)

    assert (user.active, changed, changed_again) == (False, True, False)
    assert services.accounts.active_user(instructor) is None
    email = f"instructor-{cast.student_email.split('-', 1)[1]}"
    assert services.accounts.authenticate(email, PASSWORD) is None
    deactivated = account_events(services)[-1]
    assert (deactivated.type, deactivated.actor, deactivated.role) == (
        "Deactivated",
        cast.admin.user_id,
        "admin",
    )
    services.accounts.activate(instructor, by=cast.admin)
    assert services.accounts.authenticate(email, PASSWORD) is not None
    assert verified(services).ok


def test_a_role_change_takes_effect_for_the_next_token_check(
    services: Services, cast: Cast
) -> None:
    user, changed = services.accounts.set_role(cast.auditor.user_id, "instructor", by=cast.admin)
    assert (user.role, changed) == (Role.INSTRUCTOR, True)
    active = services.accounts.active_user(cast.auditor.user_id)
    assert active is not None
    assert active.role is Role.INSTRUCTOR
    assert account_events(services)[-1].payload["role"] == "instructor"  # type: ignore[index]


def test_a_password_reset_is_recorded_without_the_password_or_its_hash(
    services: Services, cast: Cast
) -> None:
    email = f"auditor-{cast.student_email.split('-', 1)[1]}"
    services.accounts.reset_password(cast.auditor.user_id, NEW_PASSWORD, by=cast.admin)

    assert services.accounts.authenticate(email, PASSWORD) is None
    assert services.accounts.authenticate(email, NEW_PASSWORD) is not None
    reset = account_events(services)[-1]
    assert reset.type == "PasswordReset"
    stored = json.dumps(reset.payload)
    assert "argon2" not in stored
    assert NEW_PASSWORD not in stored


def test_a_transferred_license_keeps_its_assessments_and_changes_who_may_read_them(
    services: Services, cast: Cast
) -> None:
    made = services.ledger.assess(cast.instructor, cast.license_id, "passing", 6, 10)
    services.projector.catch_up()
    other = services.accounts.add_user("nia@academy.test", "Nia", Role.STUDENT, PASSWORD)
    new_holder = Actor(other.id, Role.STUDENT)
    with pytest.raises(NotPermitted):
        services.assessments.history(new_holder, cast.license_id, "passing")

    held, changed = services.accounts.transfer_license(cast.license_id, other.id, by=cast.admin)

    assert (held.holder_id, held.holder_email, changed) == (other.id, "nia@academy.test", True)
    [row] = services.assessments.history(new_holder, cast.license_id, "passing")
    assert row.id == made.assessment_id
    with pytest.raises(NotPermitted):
        services.assessments.history(cast.student, cast.license_id, "passing")
    transferred = account_events(services)[-1]
    assert transferred.stream == str(license_stream_id(cast.license_id))
    assert transferred.payload is not None
    assert transferred.payload["previous_holder_id"] == cast.student.user_id
    assert services.accounts.licenses(holder_id=other.id)[0].id == cast.license_id
    assert verified(services).ok


def test_a_student_can_hold_several_licenses(services: Services, cast: Cast) -> None:
    second = services.accounts.add_license(cast.student_email, by=cast.admin)
    assert services.accounts.licenses_held_by(cast.student.user_id) == [cast.license_id, second]


def test_the_academys_rules_hold_against_the_real_tables(services: Services, cast: Cast) -> None:
    accounts = services.accounts
    with pytest.raises(AccountConflict, match="holds licenses"):
        accounts.set_role(cast.student.user_id, Role.AUDITOR, by=cast.admin)
    with pytest.raises(AccountConflict, match="active students"):
        accounts.issue_license(cast.instructor.user_id, by=cast.admin)
    accounts.deactivate(cast.other_admin.user_id, by=cast.admin)
    with pytest.raises(AccountConflict, match="last active admin"):
        accounts.deactivate(cast.admin.user_id)
    with pytest.raises(NotPermitted):
        accounts.deactivate(cast.student.user_id, by=cast.instructor)
    events_before = len(account_events(services))
    with pytest.raises(LedgerError):
        accounts.set_role(cast.admin.user_id, Role.STUDENT, by=cast.admin)
    assert len(account_events(services)) == events_before


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    cast = seed_cast(services)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(target: Actor, by: Actor) -> None:
        barrier.wait()
        try:
            services.accounts.set_role(target.user_id, Role.INSTRUCTOR, by=by)
            outcomes.append("demoted")
        except AccountConflict:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=demote, args=(cast.admin, cast.other_admin)),
        threading.Thread(target=demote, args=(cast.other_admin, cast.admin)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["demoted", "refused"]
    with services.db.transaction(write=False) as cursor:
        assert tables.active_admins(cursor) == 1


# -- the tables verified against the events, and rebuilt from them -----------------------------


def test_verify_names_each_account_column_edited_behind_the_ledgers_back(
    services: Services, cast: Cast
) -> None:
    url = services.db.url
    sql(
        url, "UPDATE users SET role = 'admin', name = 'Mallory' WHERE id = %s", cast.student.user_id
    )
    sql(url, "UPDATE users SET active = %s WHERE id = %s", False, cast.instructor.user_id)
    sql(url, "UPDATE users SET email = 'x@evil.test' WHERE id = %s", cast.auditor.user_id)
    sql(url, "UPDATE licenses SET holder_id = %s WHERE id = %s", cast.auditor.user_id, 1)

    report = verified(services)

    drift = {
        (f.table, f.row, f.column): f
        for f in report.of_kind(FindingKind.ACCOUNT_TABLE_DIFFERING_ROW)
    }
    assert set(drift) == {
        ("users", str(cast.student.user_id), "role"),
        ("users", str(cast.student.user_id), "name"),
        ("users", str(cast.instructor.user_id), "active"),
        ("users", str(cast.auditor.user_id), "email"),
        ("licenses", str(cast.license_id), "holder_id"),
    }
    role = drift[("users", str(cast.student.user_id), "role")]
    assert role.stream == str(user_stream_id(cast.student.user_id))
    assert "users has 'admin', the events give 'student'" in role.detail
    assert "table users row" in str(role)
    assert len(report.findings) == 5


def test_verify_names_account_rows_added_or_deleted_behind_the_ledgers_back(
    services: Services, cast: Cast
) -> None:
    url = services.db.url
    sql(url, "DELETE FROM licenses WHERE id = %s", cast.license_id)
    sql(
        url,
        "INSERT INTO users (email, name, role, password_hash, active) "
        "VALUES ('ghost@evil.test', 'Ghost', 'admin', 'x', %s)",
        True,
    )

    report = verified(services)

    [missing] = report.of_kind(FindingKind.ACCOUNT_TABLE_MISSING_ROW)
    [extra] = report.of_kind(FindingKind.ACCOUNT_TABLE_EXTRA_ROW)
    assert (missing.table, missing.row, missing.version) == ("licenses", str(cast.license_id), 1)
    assert extra.table == "users"
    assert extra.stream == str(user_stream_id(int(extra.row or 0)))


def test_an_edited_account_event_breaks_its_chain(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(postgres_url)
    cast = seed_cast(services)
    sql(
        postgres_url,
        "UPDATE ledger_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        '\'"role":"student"\', \'"role":"admin"\'), \'UTF8\') WHERE originator_id = %s',
        user_stream_id(cast.student.user_id),
    )
    report = verified(services)
    [edited] = report.of_kind(FindingKind.EDITED_PAYLOAD)
    assert edited.stream == str(user_stream_id(cast.student.user_id))


def test_rebuilding_the_account_tables_restores_what_the_events_say_and_keeps_passwords(
    services: Services, cast: Cast
) -> None:
    url = services.db.url
    email = cast.student_email
    sql(url, "UPDATE users SET role = 'admin' WHERE id = %s", cast.student.user_id)
    sql(url, "DELETE FROM licenses WHERE id = %s", cast.license_id)
    sql(
        url,
        "INSERT INTO users (email, name, role, password_hash, active) "
        "VALUES ('ghost@evil.test', 'Ghost', 'admin', 'x', %s)",
        True,
    )
    assert not verified(services).ok

    done = services.accounts.rebuild_tables()

    assert (len(done.updated), len(done.restored), len(done.deleted)) == (1, 1, 1)
    assert done.restored == [f"licenses {cast.license_id}"]
    report = verified(services)
    assert report.ok, [str(f) for f in report.findings]
    assert services.accounts.authenticate(email, PASSWORD) is not None  # hash kept
    assert services.accounts.find_user("ghost@evil.test") is None
    assert services.accounts.license_holder(cast.license_id) == cast.student.user_id


def test_a_user_row_the_rebuild_restores_has_no_usable_password(
    services: Services, cast: Cast
) -> None:
    url = services.db.url
    sql(url, "DELETE FROM users WHERE id = %s", cast.auditor.user_id)

    done = services.accounts.rebuild_tables()

    assert done.restored == [f"users {cast.auditor.user_id}"]
    email = f"auditor-{cast.student_email.split('-', 1)[1]}"
    assert services.accounts.authenticate(email, PASSWORD) is None
    services.accounts.reset_password(cast.auditor.user_id, NEW_PASSWORD)
    assert services.accounts.authenticate(email, NEW_PASSWORD) is not None
    assert verified(services).ok


def test_the_projector_passes_over_account_events_and_its_position_reaches_them(
    services: Services, cast: Cast
) -> None:
    services.accounts.deactivate(cast.other_instructor.user_id)
    projected = services.projector.catch_up()
    status = services.projector.status()
    assert projected == status.head == status.position
    assert services.readmodel.all() == {}


def test_account_events_are_appended_under_the_event_stores_table_lock(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    """Commit order stays notification order: the append waits for the recorder's EXCLUSIVE
    lock (a ROW SHARE holder would let a plain insert through)."""
    services = open_services(postgres_url)
    holder = psycopg.connect(postgres_url.conninfo())
    holder.execute("LOCK TABLE ledger_events IN ROW SHARE MODE")
    adding = threading.Thread(
        target=services.accounts.add_user, args=("lock@academy.test", "L", Role.AUDITOR, PASSWORD)
    )
    adding.start()
    try:
        waited = wait_for_lock_request(postgres_url, "ExclusiveLock")
    finally:
        holder.rollback()
        holder.close()
        adding.join(timeout=60)
    assert waited
    assert services.accounts.find_user("lock@academy.test") is not None

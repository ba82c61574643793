"""Accounts and licenses in the pure domain: their events, their chain and the academy's rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skill_ledger.domain import (
    GENESIS_HASH,
    OPERATOR,
    AccountConflict,
    AccountRows,
    Actor,
    InvalidAccount,
    License,
    LicenseRow,
    NotPermitted,
    OwnAccountForbidden,
    Role,
    UserAccount,
    UserRow,
    chain_hash,
    event_payload,
    license_stream_id,
    parse_role,
    user_stream_id,
)

ADMIN = Actor(1, Role.ADMIN)
OTHER_ADMIN = Actor(2, Role.ADMIN)
STUDENT = UserRow(id=7, email="sam@academy.test", name="Sam", role=Role.STUDENT, active=True)


def registered(user_id: int = 7, role: Role = Role.STUDENT) -> UserAccount:
    account = UserAccount.register(user_id, f"u{user_id}@academy.test", "U", role, None)
    account.collect_events()
    return account


def recorded(aggregate: Any) -> list[Any]:
    return list(aggregate.collect_events())


def test_a_registration_is_an_event_on_the_users_own_stream_chained_from_genesis() -> None:
    account = UserAccount.register(7, "  Sam@Academy.test ", " Sam ", Role.STUDENT, ADMIN)
    [event] = recorded(account)

    assert account.id == user_stream_id(7)
    assert (event.email, event.name, event.registered_by, event.actor_role) == (
        "Sam@Academy.test",
        "Sam",
        1,
        "admin",
    )
    payload = {k: v for k, v in event_payload(event).items() if k not in ("prev_hash", "hash")}
    assert event.prev_hash == GENESIS_HASH
    assert event.hash == chain_hash(str(account.id), 1, "Registered", payload, GENESIS_HASH)
    assert account.row == dataclasses.replace(STUDENT, email="Sam@Academy.test")


def test_a_change_made_at_the_command_line_names_an_operator_and_no_user() -> None:
    account = registered()
    account.deactivate(None, active_admins=1)
    [event] = recorded(account)
    assert (event.actor_role, event.deactivated_by) == (OPERATOR, None)


def test_no_event_carries_a_password_or_its_hash() -> None:
    account = registered()
    account.reset_password(ADMIN)
    [event] = recorded(account)
    assert type(event).__name__ == "PasswordReset"
    assert not any("password" in name for name in event_payload(event))


def test_deactivating_twice_records_once_and_reactivating_lets_them_in() -> None:
    account = registered()
    assert account.deactivate(ADMIN, active_admins=1) is True
    assert account.deactivate(ADMIN, active_admins=1) is False
    assert account.reactivate(ADMIN) is True
    assert account.reactivate(ADMIN) is False
    kinds = [type(event).__name__ for event in recorded(account)]
    assert kinds == ["Deactivated", "Reactivated"]
    assert account.user.active


def test_an_admin_cannot_deactivate_or_re_role_their_own_account() -> None:
    account = registered(user_id=1, role=Role.ADMIN)
    with pytest.raises(OwnAccountForbidden, match="own account"):
        account.deactivate(ADMIN, active_admins=5)
    with pytest.raises(OwnAccountForbidden):
        account.change_role(Role.INSTRUCTOR, ADMIN, active_admins=5, licenses_held=[])
    assert recorded(account) == []


def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted() -> None:
    account = registered(user_id=3, role=Role.ADMIN)
    with pytest.raises(AccountConflict, match="last active admin"):
        account.deactivate(OTHER_ADMIN, active_admins=1)
    with pytest.raises(AccountConflict, match="last active admin"):
        account.change_role(Role.AUDITOR, None, active_admins=1, licenses_held=[])
    assert account.deactivate(OTHER_ADMIN, active_admins=2) is True


def test_a_student_holding_licenses_keeps_the_role_until_they_are_transferred() -> None:
    account = registered()
    with pytest.raises(AccountConflict, match="holds licenses 4, 9"):
        account.change_role(Role.INSTRUCTOR, ADMIN, active_admins=1, licenses_held=[4, 9])
    assert account.change_role(Role.INSTRUCTOR, ADMIN, active_admins=1, licenses_held=[])
    assert account.change_role(Role.INSTRUCTOR, ADMIN, active_admins=1, licenses_held=[]) is False
    assert [e.role for e in recorded(account)] == [Role.INSTRUCTOR]


@pytest.mark.parametrize("role", [Role.INSTRUCTOR, Role.STUDENT, Role.AUDITOR])
def test_only_admins_manage_accounts(role: Role) -> None:
    account = registered()
    with pytest.raises(NotPermitted, match="only admins"):
        account.deactivate(Actor(9, role), active_admins=1)
    with pytest.raises(NotPermitted):
        License.issue(4, STUDENT, Actor(9, role))
    with pytest.raises(NotPermitted):
        UserAccount.register(8, "x@academy.test", "X", Role.ADMIN, Actor(9, role))


@pytest.mark.parametrize(
    ("holder", "why"),
    [
        (dataclasses.replace(STUDENT, role=Role.INSTRUCTOR), "is an instructor"),
        (dataclasses.replace(STUDENT, active=False), "is an inactive student"),
    ],
)
def test_licenses_are_held_by_active_students(holder: UserRow, why: str) -> None:
    with pytest.raises(AccountConflict, match=why):
        License.issue(4, holder, ADMIN)
    held = License.issue(4, STUDENT, ADMIN)
    with pytest.raises(AccountConflict, match=why):
        held.transfer(dataclasses.replace(holder, id=8), ADMIN)


def test_a_transfer_names_both_holders_and_a_transfer_to_the_holder_records_nothing() -> None:
    held = License.issue(4, STUDENT, ADMIN)
    other = dataclasses.replace(STUDENT, id=8)
    assert held.transfer(STUDENT, ADMIN) is False
    assert held.transfer(other, ADMIN) is True
    issued, transferred = recorded(held)
    assert held.id == license_stream_id(4)
    assert (transferred.previous_holder_id, transferred.holder_id) == (7, 8)
    assert transferred.prev_hash == issued.hash
    assert held.license == LicenseRow(id=4, holder_id=8)


def test_the_fold_of_account_events_gives_the_rows_and_refuses_an_unopened_one() -> None:
    account = UserAccount.register(7, "sam@academy.test", "Sam", Role.STUDENT, None)
    account.change_role(Role.AUDITOR, ADMIN, active_admins=1, licenses_held=[])
    held = License.issue(4, STUDENT, ADMIN)
    rows = AccountRows()
    for event in [*recorded(account), *recorded(held)]:
        rows.apply(event)
    assert rows.users == {7: dataclasses.replace(STUDENT, role=Role.AUDITOR)}
    assert rows.licenses == {4: LicenseRow(id=4, holder_id=7)}

    orphan = registered(user_id=5)
    orphan.deactivate(ADMIN, active_admins=1)
    [deactivated] = recorded(orphan)
    with pytest.raises(KeyError):
        AccountRows().apply(deactivated)


def test_opening_events_replay_an_existing_row_and_an_inactive_one_ends_deactivated() -> None:
    inactive = dataclasses.replace(STUDENT, active=False)
    at = UserAccount.Event.create_timestamp()
    opened = UserAccount.opening(inactive, at=at)
    events = recorded(opened)
    assert [type(e).__name__ for e in events] == ["Registered", "Deactivated"]
    assert {e.actor_role for e in events} == {"migration"}
    assert opened.row == dataclasses.replace(inactive, tokens_valid_after=at)


def test_tokens_issued_before_a_deactivation_or_a_password_reset_are_refused_for_good() -> None:
    account = registered()
    assert account.user.accepts_token_issued_at(datetime(2000, 1, 1, tzinfo=UTC))
    account.reset_password(ADMIN)
    [reset] = recorded(account)
    second = reset.timestamp.replace(microsecond=0)
    assert account.user.tokens_valid_after == reset.timestamp
    assert not account.user.accepts_token_issued_at(second - timedelta(seconds=1))
    assert account.user.accepts_token_issued_at(second)  # a login right after the reset

    account.deactivate(ADMIN, active_admins=1)
    account.reactivate(ADMIN)
    deactivated, _ = recorded(account)
    assert account.user.tokens_valid_after == deactivated.timestamp  # reactivation keeps it


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("email", lambda: UserAccount.register(1, "not-an-email", "X", Role.ADMIN, None)),
        ("name", lambda: UserAccount.register(1, "x@academy.test", "  ", Role.ADMIN, None)),
        ("role", lambda: parse_role("coach")),
    ],
)
def test_malformed_fields_are_named(field: str, call: Any) -> None:
    with pytest.raises(InvalidAccount) as raised:
        call()
    assert raised.value.field == field

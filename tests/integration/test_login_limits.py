"""Login limits on real SQLite and PostgreSQL: failed logins per account, password-check slots."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest

from skill_ledger.accounts import User
from skill_ledger.domain import Role
from skill_ledger.logins import (
    FailedLogins,
    Logins,
    PasswordCheckGate,
    PasswordChecksBusy,
    TooManyFailedLogins,
    account_key,
)
from skill_ledger.services import Services
from tests.conftest import PASSWORD

MAX_FAILURES = 3
WINDOW = 60.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """Time stands still until the test moves it."""
    return Clock()


@pytest.fixture
def limits(services: Services, clock: Clock) -> FailedLogins:
    """At most three failed logins per account in a minute."""
    return FailedLogins(services.db, MAX_FAILURES, WINDOW, clock=clock)


@pytest.fixture
def logins(services: Services, limits: FailedLogins) -> Logins:
    """Password checks under those limits, two at a time."""
    return Logins(services.accounts, limits, PasswordCheckGate(2))


def login(logins: Logins, email: str, password: str) -> User | None:
    """One login, as the HTTP route runs it."""
    return asyncio.run(logins.authenticate(email, password))


def new_email() -> str:
    """An address nobody used yet."""
    return f"user-{uuid.uuid4().hex[:10]}@academy.test"


def test_an_account_is_refused_after_its_failures_until_its_window_ends(
    limits: FailedLogins, clock: Clock
) -> None:
    email = new_email()
    for _ in range(MAX_FAILURES):
        limits.begin(email)
    clock.now += 20
    with pytest.raises(TooManyFailedLogins) as refused:
        limits.begin(email)
    clock.now += WINDOW - 20
    limits.begin(email)

    assert refused.value.retry_after == WINDOW - 20


def test_a_right_password_does_not_count_against_the_account(
    services: Services, logins: Logins
) -> None:
    email = new_email()
    services.accounts.add_user(email, "Ian", Role.INSTRUCTOR, PASSWORD)
    answers = [login(logins, email, "wrong password") for _ in range(MAX_FAILURES - 1)]
    answers += [login(logins, email, PASSWORD) for _ in range(5)]
    answers.append(login(logins, email, "wrong again"))

    assert [user is not None for user in answers] == [False] * 2 + [True] * 5 + [False]
    with pytest.raises(TooManyFailedLogins):
        login(logins, email, PASSWORD)


def test_unknown_and_existing_emails_are_limited_alike(services: Services, logins: Logins) -> None:
    known, unknown = new_email(), new_email()
    services.accounts.add_user(known, "Ian", Role.INSTRUCTOR, PASSWORD)
    answers = {
        email: [login(logins, email, "wrong password") for _ in range(MAX_FAILURES)]
        for email in (known, unknown)
    }
    refusals = []
    for email in (known, unknown):
        with pytest.raises(TooManyFailedLogins) as refused:
            login(logins, email, "wrong password")
        refusals.append((str(refused.value), refused.value.retry_after))

    assert answers[known] == answers[unknown] == [None] * MAX_FAILURES
    assert refusals[0] == refusals[1]


def test_the_limit_ignores_case_and_surrounding_spaces(limits: FailedLogins) -> None:
    email = new_email()
    for spelling in (email, email.upper(), f"  {email.title()} "):
        limits.begin(spelling)
    with pytest.raises(TooManyFailedLogins):
        limits.begin(email)


def test_other_accounts_are_not_affected(limits: FailedLogins) -> None:
    email = new_email()
    for _ in range(MAX_FAILURES):
        limits.begin(email)
    with pytest.raises(TooManyFailedLogins):
        limits.begin(email)
    limits.begin(new_email())


def test_concurrent_attempts_never_exceed_the_limit(services: Services, clock: Clock) -> None:
    limits = FailedLogins(services.db, 5, WINDOW, clock=clock)
    email = new_email()
    start = threading.Barrier(16)
    outcomes: list[str] = []

    def attempt() -> None:
        start.wait()
        try:
            limits.begin(email)
        except TooManyFailedLogins:
            outcomes.append("refused")
        else:
            outcomes.append("counted")

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("counted") == 5
    assert outcomes.count("refused") == 11


def test_the_table_keeps_a_digest_not_the_email_and_drops_expired_windows(
    services: Services, limits: FailedLogins, clock: Clock
) -> None:
    old, recent = new_email(), new_email()
    limits.begin(old)
    clock.now += WINDOW + 61  # past the window and the pruning interval
    limits.begin(recent)
    with services.db.transaction(write=False) as cursor:
        cursor.execute("SELECT account FROM login_failures")
        stored = {row[0] for row in cursor.fetchall()}

    assert account_key(recent) in stored
    assert account_key(old) not in stored
    assert not any("@" in account for account in stored)


def test_the_gate_refuses_at_once_when_every_slot_is_taken() -> None:
    gate = PasswordCheckGate(2)
    with gate.admit(), gate.admit(), pytest.raises(PasswordChecksBusy) as busy, gate.admit():
        pass
    with gate.admit():
        pass

    assert busy.value.retry_after == 1


def test_password_checks_run_at_the_least_cpu_priority() -> None:
    gate = PasswordCheckGate(1)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    try:
        assert gate.executor.submit(niceness).result() == 19
        assert niceness() < 19, "only the password-check threads are lowered"
    finally:
        gate.executor.shutdown()

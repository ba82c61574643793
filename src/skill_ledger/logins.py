"""Login abuse controls: failed logins per account (in the database), a cap on password checks."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import anyio.to_thread
import structlog

from skill_ledger.accounts import Accounts, User
from skill_ledger.database import Database

log = structlog.get_logger("skill_ledger.logins")

PRUNE_INTERVAL_SECONDS = 60.0
BUSY_RETRY_AFTER_SECONDS = 1
# One statement on both backends: a new window, or one more failure in the current one. In an
# UPDATE every right-hand side reads the row as it was, so both CASEs test the old window.
BEGIN_ATTEMPT = """
INSERT INTO login_failures (account, window_start, failures) VALUES (%s, %s, 1)
ON CONFLICT (account) DO UPDATE SET
    failures = CASE WHEN login_failures.window_start <= %s
                    THEN 1 ELSE login_failures.failures + 1 END,
    window_start = CASE WHEN login_failures.window_start <= %s
                        THEN excluded.window_start ELSE login_failures.window_start END
RETURNING failures, window_start
"""
FORGIVE_ATTEMPT = (
    "UPDATE login_failures SET failures = failures - 1 "
    "WHERE account = %s AND window_start = %s AND failures > 0"
)
PRUNE = "DELETE FROM login_failures WHERE window_start <= %s"


class LoginRefused(Exception):
    """A login refused before its password was checked; the client may retry later."""

    retry_after: int


class TooManyFailedLogins(LoginRefused):
    """Too many failed logins for this email in the current window (unknown emails alike)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins for this account; retry in {retry_after} s")
        self.retry_after = retry_after


class PasswordChecksBusy(LoginRefused):
    """Every password-check slot of this process is taken (a login flood); retry shortly."""

    def __init__(self) -> None:
        super().__init__("Too many logins are being checked right now; retry shortly")
        self.retry_after = BUSY_RETRY_AFTER_SECONDS


def account_key(email: str) -> str:
    """What the limit is keyed by: a digest of the email as typed, trimmed and lower-cased."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt, counted as failed until its password proves right."""

    account: str
    window_start: float


class FailedLogins:
    """Failed logins per account in fixed windows, shared by every process through the database.

    An attempt is counted before its password is checked, so concurrent guesses cannot overrun
    the limit while their checks run; a right password takes its count back.
    """

    def __init__(
        self,
        db: Database,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._pruned_at = -math.inf

    def begin(self, email: str) -> Attempt:
        """Count an attempt; TooManyFailedLogins when the account's window is already full."""
        now = self._clock()
        expired = now - self.window_seconds
        account = account_key(email)
        with self.db.transaction() as cursor:
            if now - self._pruned_at >= PRUNE_INTERVAL_SECONDS:
                cursor.execute(PRUNE, (expired,))
                self._pruned_at = now
            cursor.execute(BEGIN_ATTEMPT, (account, now, expired, expired))
            failures, window_start = cursor.fetchone()
        if int(failures) > self.max_failures:
            retry_after = max(1, math.ceil(float(window_start) + self.window_seconds - now))
            log.warning("login_throttled", limit="account", retry_after=retry_after)
            raise TooManyFailedLogins(retry_after)
        return Attempt(account, float(window_start))

    def forgive(self, attempt: Attempt) -> None:
        """The password was right: the attempt does not count against the account."""
        with self.db.transaction() as cursor:
            cursor.execute(FORGIVE_ATTEMPT, (attempt.account, attempt.window_start))


def _background_priority() -> None:
    """Lower this thread to the least CPU priority (nice 19; Linux nices each thread apart)."""
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError as e:  # pragma: no cover - refused by an unusual sandbox: run at normal
            log.warning("password_checks_at_normal_priority", error=str(e))


class PasswordCheckGate:
    """At most `capacity` password checks at once in this process; the rest are refused at once.

    An argon2 check costs a fraction of a second of CPU: queued behind a flood of them, every
    other request of the process would wait. Refusing beyond the cap keeps the rest responsive,
    and the checks run on threads of the least CPU priority, so they take only the CPU that
    other requests leave.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._slots = threading.BoundedSemaphore(capacity)
        self.executor = ThreadPoolExecutor(
            capacity, thread_name_prefix="password-check", initializer=_background_priority
        )

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a slot for the block; PasswordChecksBusy at once when none is free."""
        # No log line of its own: in a flood it would be thousands a second; the access log and
        # ledger_http_requests_total{status_code="503"} show the refusals.
        if not self._slots.acquire(blocking=False):
            raise PasswordChecksBusy
        try:
            yield
        finally:
            self._slots.release()


class Logins:
    """Email and password to a user, within the per-account limit and the password-check cap."""

    def __init__(self, accounts: Accounts, failures: FailedLogins, gate: PasswordCheckGate) -> None:
        self.accounts = accounts
        self.failures = failures
        self.gate = gate

    async def authenticate(self, email: str, password: str) -> User | None:
        """The active user with these credentials, or None.

        PasswordChecksBusy at once when every slot is taken, TooManyFailedLogins before any
        check when the account's window is full. The failure count is written at normal
        priority (a starved thread must not hold SQLite's write lock), the password checked on
        the gate's background-priority threads.
        """
        with self.gate.admit():
            attempt = await anyio.to_thread.run_sync(self.failures.begin, email)
            check = self.gate.executor.submit(self.accounts.authenticate, email, password)
            user = await asyncio.wrap_future(check)
            if user is not None:
                await anyio.to_thread.run_sync(self.failures.forgive, attempt)
            return user

    def close(self) -> None:
        """Stop the password-check threads."""
        self.gate.executor.shutdown(wait=False)

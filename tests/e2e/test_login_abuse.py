"""Login abuse over real HTTP: forged client addresses, guessing one account from many servers,
and a flood of password checks that must not hold up everyone else.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import DEMO, Server

LOGIN = "/api/v1/auth/login"
PROBLEM = "application/problem+json"


def unknown_email() -> str:
    """An email no account has (each bad login its own, so no account limit applies)."""
    return f"nobody-{uuid.uuid4().hex[:10]}@lfa.com"


def test_a_rotating_x_forwarded_for_does_not_escape_the_address_limit(
    postgres_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    server = launch(postgres_url, {"LEDGER_LOGIN_RATE_PER_MINUTE": "10"})
    with server.client() as client:
        statuses = [
            client.post(
                LOGIN,
                json={"email": unknown_email(), "password": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(15)
        ]
    assert statuses == [401] * 10 + [429] * 5


def guess(server: Server, email: str, password: str = "wrong-password") -> httpx.Response:
    """One login attempt."""
    with server.client() as client:
        return client.post(LOGIN, json={"email": email, "password": password})


def without_numbers(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem body with its seconds and path left out (they differ between accounts)."""
    return {k: re.sub(r"\d+", "N", str(v)) for k, v in problem.items() if k != "instance"}


def test_failed_logins_per_account_are_limited_across_servers_and_alike_for_unknown_emails(
    postgres_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    limit = {"LEDGER_LOGIN_ACCOUNT_FAILURES": "3"}
    first, second = launch(postgres_url, limit), launch(postgres_url, limit)
    instructor, password = DEMO["instructor"]
    nobody = unknown_email()

    guesses = [guess(first, email).status_code for email in (instructor, nobody) for _ in range(3)]
    known_refused = guess(second, instructor)
    right_refused = guess(second, instructor, password)
    unknown_refused = guess(second, nobody)
    other_account = guess(second, *DEMO["admin"])

    assert guesses == [401] * 6
    for refused in (known_refused, right_refused, unknown_refused):
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM
        assert 0 < int(refused.headers["retry-after"]) <= 900
    assert without_numbers(known_refused.json()) == without_numbers(unknown_refused.json())
    assert known_refused.headers.keys() - {"retry-after", "x-request-id"} == (
        unknown_refused.headers.keys() - {"retry-after", "x-request-id"}
    )
    assert other_account.status_code == 200


def test_a_login_flood_is_refused_at_once_beyond_the_password_check_slots(
    postgres_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    server = launch(postgres_url, {"LEDGER_LOGIN_CONCURRENCY": "1"})
    headers = server.headers("auditor")
    start = threading.Barrier(12)
    answers: list[httpx.Response] = []

    def bad_login() -> None:
        with server.client() as client:
            start.wait()
            answers.append(client.post(LOGIN, json={"email": unknown_email(), "password": "x"}))

    threads = [threading.Thread(target=bad_login) for _ in range(12)]
    for thread in threads:
        thread.start()
    with server.client() as client:
        read = client.get("/api/v1/licenses/1/skills/passing/assessments", headers=headers)
    for thread in threads:
        thread.join()

    busy = [answer for answer in answers if answer.status_code == 503]
    assert {answer.status_code for answer in answers} == {401, 503}
    assert all(answer.headers["retry-after"] == "1" for answer in busy)
    assert all(answer.headers["content-type"] == PROBLEM for answer in busy)
    assert read.status_code == 200
    assert guess(server, *DEMO["admin"]).status_code == 200, "a slot frees once the flood ends"

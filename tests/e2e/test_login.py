"""Login over real HTTP: rate-limited per client, configured expiry, no secrets in the logs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import jwt
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database
from skill_ledger.domain import Role
from skill_ledger.settings import DatabaseURL
from tests.e2e.conftest import AUDIENCE, DEMO, SECRET, Server, fresh_server

LOGIN = "/api/v1/auth/login"
EXPIRY_SECONDS = 120
RATE_PER_MINUTE = 5
AUTH_CACHE_SECONDS = 1.0  # the server default (LEDGER_AUTH_CACHE_SECONDS)


@pytest.fixture(scope="module")
def module_server(
    postgres_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """This module's server issues tokens that live two minutes."""
    log_path = tmp_path_factory.mktemp("login-server") / "server.log"
    with fresh_server(
        postgres_template, log_path, {"LEDGER_JWT_EXPIRY_SECONDS": str(EXPIRY_SECONDS)}
    ) as server:
        yield server


def test_login_is_refused_with_429_after_the_configured_rate(
    postgres_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    server = launch(
        postgres_url,
        {
            "LEDGER_LOGIN_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
            "LEDGER_TRUSTED_PROXIES": "127.0.0.1",  # as if behind a reverse proxy on this host
        },
    )
    admin, password = DEMO["admin"]
    with server.client() as client:
        guesses = [
            client.post(LOGIN, json={"email": admin, "password": f"guess-{n}"})
            for n in range(RATE_PER_MINUTE)
        ]
        refused_guess = client.post(LOGIN, json={"email": admin, "password": "one-more-guess"})
        refused_right = client.post(LOGIN, json={"email": admin, "password": password})
        other_client = client.post(
            LOGIN,
            json={"email": admin, "password": password},
            headers={"X-Forwarded-For": "203.0.113.7"},  # a client behind the trusted proxy
        )
        health = client.get("/health")

    assert [response.status_code for response in guesses] == [401] * RATE_PER_MINUTE
    assert refused_guess.status_code == 429
    assert refused_guess.headers["content-type"] == "application/problem+json"
    assert refused_guess.json()["status"] == 429
    assert refused_right.status_code == 429, "the right password does not lift the limit"
    assert other_client.status_code == 200, "the limit is per client"
    assert health.status_code == 200, "only login is limited"


def test_login_answers_the_configured_expiry(module_server: Server) -> None:
    with module_server.client() as client:
        response = client.post(
            LOGIN, json=dict(zip(("email", "password"), DEMO["auditor"], strict=True))
        )
    body = response.json()
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience=AUDIENCE)

    assert response.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == EXPIRY_SECONDS
    assert claims["exp"] - claims["iat"] == EXPIRY_SECONDS


def test_tokens_and_passwords_never_reach_the_logs(
    module_server: Server, module_db: Database, module_accounts: Accounts
) -> None:
    server = module_server
    email = f"secretive-{uuid.uuid4().hex[:8]}@academy.test"
    password = f"pw-{uuid.uuid4().hex}"
    wrong_password = f"wrong-{uuid.uuid4().hex}"
    module_accounts.add_user(email, "Secretive Instructor", Role.INSTRUCTOR, password)
    license_id = module_accounts.add_license(DEMO["student"][0])
    token = server.login(email, password)
    admin_token = server.token("admin")
    forged = jwt.encode({"sub": "1", "exp": 4102444800}, "x" * 40, algorithm="HS256")

    def bearer(value: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {value}"}

    with server.client() as client:
        client.post(LOGIN, json={"email": email, "password": wrong_password})
        client.post(LOGIN, json={"email": f"x{email}", "password": password})
        made = client.post(
            f"/api/v1/licenses/{license_id}/skills/passing/assess",
            json={"points_earned": 5, "points_total": 10},
            headers=bearer(token),
        )
        assessment_id = made.json()["assessment"]["id"]
        client.post(f"/api/v1/assessments/{assessment_id}/validate", headers=bearer(admin_token))
        client.get(f"/api/v1/assessments/{assessment_id}", headers=bearer(token))
        client.post(
            f"/api/v1/assessments/{assessment_id}/archive",
            json={"reason": "logged"},
            headers=bearer(token),
        )
        client.get(f"/api/v1/assessments/{assessment_id}", headers=bearer(forged))
        failed = failing_requests(client, module_db, email, password, token)

    logs = server.logs()
    after_start = logs.split("Serving on", 1)[1]
    assert f"Assessment {assessment_id}" in logs, "the log captured the requests"
    assert failed == [500, 500]
    assert "unhandled_error" in logs, "the log captured the failures' tracebacks"
    for secret in (token, admin_token, forged, password, wrong_password, SECRET):
        assert secret not in logs
    for part in (*token.split("."), *admin_token.split(".")):
        assert part not in logs
    assert "Bearer" not in logs
    for _, demo_password in DEMO.values():
        assert demo_password not in after_start, "demo passwords appear only in the banner"


def failing_requests(
    client: httpx.Client, db: Database, email: str, password: str, token: str
) -> list[int]:
    """A login and an authenticated read while the users table is gone: two logged 500s."""
    with db.transaction() as cursor:
        cursor.execute("ALTER TABLE users RENAME TO users_away")
    time.sleep(AUTH_CACHE_SECONDS + 0.2)  # let the server's remembered user lookup expire
    try:
        statuses = [
            client.post(LOGIN, json={"email": email, "password": password}).status_code,
            client.get(
                "/api/v1/licenses/1/skills/passing/assessments",
                headers={"Authorization": f"Bearer {token}"},
            ).status_code,
        ]
    finally:
        with db.transaction() as cursor:
            cursor.execute("ALTER TABLE users_away RENAME TO users")
    return statuses

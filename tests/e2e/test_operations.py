"""Running the server: health checks the database for real; production mode refuses weak secrets."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from skill_ledger import migrate as schema
from skill_ledger.audit.signing import SigningKey
from skill_ledger.cli.serve import is_loopback
from skill_ledger.database import open_database
from skill_ledger.settings import DatabaseURL
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import DEMO, Server, free_port, ledger_executable, stop_server

LOGIN_FIELDS = ("email", "password")


def test_health_answers_503_when_its_database_is_gone(launch: Callable[..., Server]) -> None:
    name = f"ledger_gone_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    try:
        schema.upgrade(url)
        server = launch(url)
        drop_database(name)
        started = time.monotonic()
        with server.client() as client:
            response = client.get("/health")
        elapsed = time.monotonic() - started
    finally:
        drop_database(name)
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert "database" in response.json()["detail"]
    assert elapsed < 10, "health must fail fast, not hang"
    for secret in (name, url.host, str(url.port)):
        assert secret not in response.text, f"/health names {secret}"


def run_serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ledger_executable(), "serve", "--port", str(free_port()), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_a_long_secret(postgres_url: DatabaseURL) -> None:
    for secret in ("", "short-secret"):
        result = run_serve(
            {
                "LEDGER_ENV": "production",
                "LEDGER_JWT_SECRET": secret,
                "LEDGER_DATABASE_URL": postgres_url.url(),
            }
        )
        assert result.returncode != 0
        assert "LEDGER_JWT_SECRET" in result.stderr


def test_production_seeds_no_demo_accounts(
    launch: Callable[..., Server], postgres_url: DatabaseURL, tmp_path: Path
) -> None:
    key = tmp_path / "signing.key"  # production signs checkpoints: it needs the log's key
    key.write_text(SigningKey.generate("ops.test/ledger").text())
    server = launch(
        postgres_url,
        {
            "LEDGER_ENV": "production",
            "LEDGER_JWT_SECRET": "p" * 40,
            "LEDGER_SIGNING_KEY_FILE": str(key),
        },
        demo=False,
    )
    with server.client() as client:
        response = client.post(
            "/api/v1/auth/login", json={"email": "admin@lfa.com", "password": "admin-demo-pass"}
        )
    assert response.status_code == 401
    assert "Demo accounts" not in server.logs()
    assert httpx.get(f"{server.base_url}/health").status_code == 200


def user_count(url: DatabaseURL) -> int:
    """How many accounts the database holds."""
    db = open_database(url)
    try:
        with db.transaction(write=False) as cursor:
            cursor.execute("SELECT count(*) FROM users")
            return int(cursor.fetchone()[0])
    finally:
        db.close()


def test_demo_accounts_are_seeded_only_when_asked(
    sqlite_url: DatabaseURL, launch: Callable[..., Server]
) -> None:
    plain = launch(sqlite_url, demo=False)
    with plain.client() as client:
        before = client.post(
            "/api/v1/auth/login", json=dict(zip(LOGIN_FIELDS, DEMO["admin"], strict=True))
        )
    stop_server(plain)
    demo = launch(sqlite_url, {}, "--demo", demo=False)  # what `make run` does

    assert before.status_code == 401
    assert "Demo accounts" not in plain.logs()
    assert "Demo accounts" in demo.logs()
    assert demo.login(*DEMO["admin"])


def test_demo_accounts_never_go_to_postgresql_unless_confirmed(postgres_url: DatabaseURL) -> None:
    result = run_serve({"LEDGER_DATABASE_URL": postgres_url.url()}, "--demo")

    assert result.returncode == 2
    assert "--demo-on-postgres" in result.stderr
    assert user_count(postgres_url) == 0


def test_demo_accounts_are_refused_in_production(sqlite_url: DatabaseURL) -> None:
    env = {
        "LEDGER_DATABASE_URL": sqlite_url.url(),
        "LEDGER_ENV": "production",
        "LEDGER_JWT_SECRET": "p" * 40,
    }
    result = run_serve(env, "--demo")

    assert result.returncode == 2
    assert "never with LEDGER_ENV=production" in result.stderr
    assert user_count(sqlite_url) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "ledger.example.org"])
def test_development_mode_refuses_to_serve_beyond_this_machine(
    sqlite_url: DatabaseURL, host: str
) -> None:
    result = run_serve({"LEDGER_DATABASE_URL": sqlite_url.url()}, "--host", host)

    assert result.returncode == 2
    assert "LEDGER_ENV=production" in result.stderr
    assert host in result.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
    ],
)
def test_only_loopback_names_and_addresses_count_as_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start(
    sqlite_url: DatabaseURL,
) -> None:
    env = {"LEDGER_DATABASE_URL": sqlite_url.url(), "LEDGER_TRUSTED_PROXIES": "10.0.0.1,proxy.lan"}
    result = run_serve(env)

    assert result.returncode == 2
    assert "LEDGER_TRUSTED_PROXIES" in result.stderr
    assert "proxy.lan" in result.stderr


def test_a_connection_budget_too_small_for_the_workers_is_refused_at_start(
    sqlite_url: DatabaseURL,
) -> None:
    env = {"LEDGER_DATABASE_URL": sqlite_url.url(), "LEDGER_CONNECTION_BUDGET": "12"}
    result = run_serve(env, "--workers", "2", "--no-projector")

    assert result.returncode == 2
    assert "LEDGER_CONNECTION_BUDGET=12" in result.stderr
    assert "2 workers" in result.stderr

"""Running the server: health checks the database for real; production mode refuses weak secrets."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from skill_ledger import migrate as schema
from skill_ledger.audit.signing import SigningKey
from skill_ledger.settings import DatabaseURL
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import Server, free_port, ledger_executable


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


def run_serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ledger_executable(), "serve", "--port", str(free_port())],
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
    )
    with server.client() as client:
        response = client.post(
            "/api/v1/auth/login", json={"email": "admin@lfa.com", "password": "admin-demo-pass"}
        )
    assert response.status_code == 401
    assert "Demo accounts" not in server.logs()
    assert httpx.get(f"{server.base_url}/health").status_code == 200

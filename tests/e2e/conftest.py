"""A real `ledger serve` process on a fresh database, and an HTTP client for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from skill_ledger.accounts import Accounts
from skill_ledger.database import Database, open_database
from skill_ledger.settings import DatabaseURL
from tests.conftest import cheap_hasher, create_database, drop_database

SECRET = "e2e-secret-that-is-at-least-32-bytes-long"
ISSUER, AUDIENCE = "skill-ledger", "skill-ledger-api"  # the defaults of LEDGER_JWT_ISSUER/AUDIENCE
DEMO_EVENTS = 5
"""The account events the demo seeding records: four users registered, a license issued."""
DEMO = {
    "admin": ("admin@lfa.com", "admin-demo-pass"),
    "instructor": ("instructor@lfa.com", "instructor-demo-pass"),
    "student": ("student@lfa.com", "student-demo-pass"),
    "auditor": ("auditor@lfa.com", "auditor-demo-pass"),
}


LOGIN_ATTEMPTS = 30
# The servers under test hold the demo accounts: asked for explicitly, PostgreSQL included.
DEMO_FLAGS = ("--demo", "--demo-on-postgres")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ledger_executable() -> str:
    """The `ledger` console script of this virtualenv."""
    candidate = Path(sys.executable).parent / "ledger"
    return str(candidate) if candidate.exists() else "ledger"


@dataclass
class Server:
    """A running `ledger serve` and its database."""

    base_url: str
    database: DatabaseURL
    process: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)
    _token_lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for this server."""
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)

    def login(self, email: str, password: str) -> str:
        """A bearer token for these credentials (waiting out 503s while password checks are busy,
        as the README asks clients to)."""
        with self.client() as client:
            for _ in range(LOGIN_ATTEMPTS):
                response = client.post(
                    "/api/v1/auth/login", json={"email": email, "password": password}
                )
                if response.status_code != 503:
                    break
                time.sleep(float(response.headers.get("retry-after", "1")))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def token(self, role: str) -> str:
        """The demo user's token for a role (one login per role, whichever thread asks first)."""
        with self._token_lock:
            if role not in self.tokens:
                self.tokens[role] = self.login(*DEMO[role])
            return self.tokens[role]

    def headers(self, role: str) -> dict[str, str]:
        """Authorization header for the demo user of a role."""
        return {"Authorization": f"Bearer {self.token(role)}"}

    def logs(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")


def start_server(
    database: DatabaseURL,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    *args: str,
    demo: bool = True,
) -> Server:
    """Start `ledger serve` (with the demo accounts unless demo=False); wait for /health."""
    port = free_port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database.url(),
        "LEDGER_ENV": "development",
        "LEDGER_JWT_SECRET": SECRET,
        "LEDGER_LOGIN_RATE_PER_MINUTE": "1000",
        **(extra_env or {}),
    }
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [ledger_executable(), "serve", "--port", str(port), *(DEMO_FLAGS if demo else ()), *args],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", database, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ledger serve exited early:\n{server.logs()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"ledger serve did not become healthy:\n{server.logs()}")


def stop_server(server: Server) -> None:
    """Terminate the server process."""
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers on demand; all are stopped at teardown."""
    started: list[Server] = []

    def _launch(
        database: DatabaseURL,
        extra_env: dict[str, str] | None = None,
        *args: str,
        demo: bool = True,
    ) -> Server:
        log_path = tmp_path / f"server-{len(started)}.log"
        server = start_server(database, log_path, extra_env, *args, demo=demo)
        started.append(server)
        return server

    yield _launch
    for server in started:
        stop_server(server)


@pytest.fixture
def server(postgres_url: DatabaseURL, launch: Callable[..., Server]) -> Server:
    """`ledger serve` on a fresh PostgreSQL database (demo accounts seeded)."""
    return launch(postgres_url)


@contextmanager
def fresh_server(
    template: str, log_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`ledger serve` on a new PostgreSQL database cloned from the migrated template."""
    name = f"ledger_m_{uuid.uuid4().hex[:12]}"
    url = create_database(name, template=template)
    try:
        server = start_server(url, log_path, extra_env)
        try:
            yield server
        finally:
            stop_server(server)
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def module_server(
    postgres_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server for a whole module, for tests that do not interfere with one another."""
    with fresh_server(postgres_template, tmp_path_factory.mktemp("server") / "server.log") as s:
        yield s


@pytest.fixture(scope="module")
def module_db(module_server: Server) -> Iterator[Database]:
    """The module server's database, for setting up users and licenses and counting events."""
    db = open_database(module_server.database)
    db.open()
    yield db
    db.close()


@pytest.fixture(scope="module")
def module_accounts(module_db: Database) -> Accounts:
    """Accounts in the module server's database (the server verifies any argon2 hash)."""
    return Accounts(module_db, cheap_hasher())


def event_count(db: Database) -> int:
    """How many events the server's PostgreSQL event store holds."""
    with db.transaction(write=False) as cursor:
        cursor.execute("SELECT count(*) FROM ledger_events")
        row = cursor.fetchone()
    return int(row[0])

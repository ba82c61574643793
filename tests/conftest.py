"""Shared fixtures: fresh PostgreSQL databases and SQLite files per test, migrated to head."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher

from skill_ledger import migrate as schema
from skill_ledger.domain import Actor, Role
from skill_ledger.ports import CommandObserver
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL, Settings

ADMIN_URL = os.environ.get(
    "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES", "") == "1"
PASSWORD = "correct horse battery"


def cheap_hasher() -> PasswordHasher:
    """argon2id with tiny parameters: tests need the algorithm, not the cost."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _admin() -> DatabaseURL:
    return DatabaseURL.parse(ADMIN_URL)


def _postgres_available() -> bool:
    try:
        with psycopg.connect(_admin().conninfo(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def create_database(name: str, template: str | None = None) -> DatabaseURL:
    """CREATE DATABASE on the test server; returns its URL."""
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_admin().conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return _admin().with_dbname(name)


def drop_database(name: str) -> None:
    """DROP DATABASE … WITH (FORCE), ignoring a database already gone."""
    with psycopg.connect(_admin().conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; each test clones it."""
    if not _postgres_available():
        if REQUIRE_POSTGRES:
            pytest.exit(f"PostgreSQL is required but unreachable at {ADMIN_URL}", returncode=3)
        pytest.skip("PostgreSQL unreachable (set LEDGER_REQUIRE_POSTGRES=1 to fail instead)")
    name = f"ledger_tpl_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    schema.upgrade(url)
    yield name
    drop_database(name)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[DatabaseURL]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"ledger_t_{uuid.uuid4().hex[:12]}"
    url = create_database(name, template=postgres_template)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test copies it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "ledger.db"
    schema.upgrade(DatabaseURL(backend="sqlite", path=str(path)))
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> DatabaseURL:
    """A fresh, migrated SQLite file for one test."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(sqlite_template, path)
    return DatabaseURL(backend="sqlite", path=str(path))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> DatabaseURL:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: DatabaseURL = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def empty_postgres_url(postgres_template: str) -> Iterator[DatabaseURL]:
    """An empty PostgreSQL database, not migrated (not cloned from the template)."""
    name = f"ledger_e_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    yield url
    drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseURL:
    """An empty, not migrated database of each backend (SQLite: a file not yet created)."""
    if request.param == "sqlite":
        return DatabaseURL(backend="sqlite", path=str(tmp_path / "empty.db"))
    url: DatabaseURL = request.getfixturevalue("empty_postgres_url")
    return url


def revision_below(revision: str) -> str:
    """The revision a `downgrade -1` from `revision` lands on (migrations keep being added)."""
    config = Config()
    config.set_main_option("script_location", str(schema.migrations_dir()))
    found = ScriptDirectory.from_config(config).get_revision(revision)
    assert found is not None
    assert isinstance(found.down_revision, str)
    return found.down_revision


def test_settings(url: DatabaseURL, **overrides: Any) -> Settings:
    """Settings for a test database, with overrides."""
    return replace(Settings(database=url, projection_poll_seconds=0.01), **overrides)


@pytest.fixture
def open_services() -> Iterator[Callable[..., Services]]:
    """Open Services on a URL (closed at teardown)."""
    opened: list[Services] = []

    def _open(
        url: DatabaseURL, *, observer: CommandObserver | None = None, **overrides: Any
    ) -> Services:
        services = Services.open(
            test_settings(url, **overrides), hasher=cheap_hasher(), observer=observer
        )
        opened.append(services)
        return services

    yield _open
    for services in reversed(opened):
        services.close()


@dataclass(frozen=True)
class Cast:
    """The people of a test ledger and one license."""

    admin: Actor
    other_admin: Actor
    instructor: Actor
    other_instructor: Actor
    student: Actor
    auditor: Actor
    license_id: int
    student_email: str


CAST_EVENTS = 7
"""The account events seed_cast records in the ledger: six users registered, a license issued."""


def seed_cast(services: Services) -> Cast:
    """Create one user of each role and a license held by the student."""
    suffix = uuid.uuid4().hex[:8]
    ids = {}
    for key, role in [
        ("admin", Role.ADMIN),
        ("other_admin", Role.ADMIN),
        ("instructor", Role.INSTRUCTOR),
        ("other_instructor", Role.INSTRUCTOR),
        ("student", Role.STUDENT),
        ("auditor", Role.AUDITOR),
    ]:
        email = f"{key}-{suffix}@academy.test"
        ids[key] = Actor(services.accounts.add_user(email, key, role, PASSWORD).id, role)
    student_email = f"student-{suffix}@academy.test"
    license_id = services.accounts.add_license(student_email)
    return Cast(**ids, license_id=license_id, student_email=student_email)


@pytest.fixture
def services(database_url: DatabaseURL, open_services: Callable[..., Services]) -> Services:
    """Services on a fresh database of each backend."""
    return open_services(database_url)


@pytest.fixture
def cast(services: Services) -> Cast:
    """Users and a license in the services' database."""
    return seed_cast(services)

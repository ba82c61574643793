"""The ledger_analyst role on real PostgreSQL: a login granted it reads, and only reads."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from skill_ledger import migrate as schema
from skill_ledger.readside import reports
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import ADMIN_URL, create_database, drop_database, seed_cast
from tests.integration.test_reports import invoke

pytestmark = pytest.mark.postgres

ROLE = "ledger_analyst"
VIEWS = ("report_window", *reports.names())
READABLE = ("football_skill_assessments", "licenses", "projection_tracking", "report_settings")
WRITES = (
    "INSERT INTO football_skill_assessments (id) VALUES (gen_random_uuid())",
    "UPDATE football_skill_assessments SET notes = 'edited'",
    "DELETE FROM football_skill_assessments",
    "INSERT INTO licenses (holder_id) VALUES (1)",
    "UPDATE licenses SET holder_id = holder_id",
    "DELETE FROM licenses",
    "UPDATE users SET name = 'edited'",
    "DELETE FROM users",
    "UPDATE report_settings SET backlog_alert_pending = 1000",
    "DELETE FROM projection_tracking",
    "INSERT INTO ledger_events (originator_id, originator_version) VALUES (gen_random_uuid(), 1)",
    "DELETE FROM ledger_events",
    "TRUNCATE football_skill_assessments",
    "CREATE TABLE analyst_scratch (id int)",
)
SECRETS = (
    "SELECT password_hash FROM users",
    "SELECT * FROM users",
    "SELECT state FROM ledger_events",
    "SELECT * FROM ledger_snapshots",
)

UPGRADE = (
    "import sys; from skill_ledger import migrate; from skill_ledger.settings import DatabaseURL; "
    "migrate.upgrade(DatabaseURL.parse(sys.argv[1]))"
)


def server() -> DatabaseURL:
    return DatabaseURL.parse(ADMIN_URL)


@pytest.fixture
def analyst_login() -> Iterator[tuple[str, str]]:
    """A LOGIN role granted ledger_analyst, as the README tells operators to make one."""
    name, password = f"analyst_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with psycopg.connect(server().conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(ROLE), sql.Identifier(name)))
    yield name, password
    with psycopg.connect(server().conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def seeded(postgres_url: DatabaseURL, open_services: Callable[..., Services]) -> DatabaseURL:
    """A database with users, a license and one projected assessment."""
    services = open_services(postgres_url)
    cast = seed_cast(services)
    services.ledger.assess(cast.instructor, cast.license_id, "passing", 6, 10)
    services.projector.catch_up()
    return postgres_url


def connect_as(url: DatabaseURL, login: tuple[str, str]) -> psycopg.Connection[tuple[object, ...]]:
    name, password = login
    return psycopg.connect(
        make_conninfo(url.conninfo(), user=name, password=password), autocommit=True
    )


def privilege(url: DatabaseURL, table: str) -> bool:
    with psycopg.connect(url.conninfo()) as conn:
        row = conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (ROLE, table)).fetchone()
    return bool(row and row[0])


def test_analyst_reads_read_tables_views_and_public_user_columns(
    seeded: DatabaseURL, analyst_login: tuple[str, str]
) -> None:
    with connect_as(seeded, analyst_login) as conn:
        counts = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
            for table in (*READABLE, *VIEWS)
        }
        users = conn.execute("SELECT id, email, name, role, active, created_at FROM users")
        roles = sorted(row[3] for row in users.fetchall())
        pending = conn.execute("SELECT pending_validation FROM validation_backlog").fetchone()
        names = conn.execute("SELECT instructor_name FROM instructor_activity").fetchall()
    assert counts["football_skill_assessments"] == (1,)
    assert counts["licenses"] == (1,)
    assert counts["report_settings"] == (1,)
    assert roles == ["admin", "admin", "auditor", "instructor", "instructor", "student"]
    assert pending == (1,)
    assert names == [("instructor",)]


def test_analyst_cannot_write_anything(seeded: DatabaseURL, analyst_login: tuple[str, str]) -> None:
    refused = []
    with connect_as(seeded, analyst_login) as conn:
        for statement in WRITES:
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                refused.append(statement)
    assert refused == list(WRITES)


def test_analyst_cannot_read_password_hashes_or_events(
    seeded: DatabaseURL, analyst_login: tuple[str, str]
) -> None:
    refused = []
    with connect_as(seeded, analyst_login) as conn:
        for statement in SECRETS:
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                refused.append(statement)
    assert refused == list(SECRETS)


def test_downgrade_revokes_this_database_only_and_upgrade_grants_again(
    postgres_url: DatabaseURL, postgres_template: str, analyst_login: tuple[str, str]
) -> None:
    other_name = f"ledger_t_{uuid.uuid4().hex[:12]}"
    other = create_database(other_name, template=postgres_template)
    try:
        schema.downgrade(postgres_url, "2026_11_25_0930")
        assert not privilege(postgres_url, "football_skill_assessments")
        assert privilege(other, "football_skill_assessments")
        with connect_as(other, analyst_login) as conn:
            assert conn.execute("SELECT COUNT(*) FROM validation_backlog").fetchone() == (1,)

        schema.upgrade(postgres_url)
        assert privilege(postgres_url, "football_skill_assessments")
        with connect_as(postgres_url, analyst_login) as conn:
            assert conn.execute("SELECT alert FROM validation_backlog").fetchone() == (False,)
    finally:
        drop_database(other_name)


def test_several_databases_grant_the_role_at_once(postgres_template: str) -> None:
    names = [f"ledger_t_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    urls = [create_database(name, template=postgres_template) for name in names]
    try:
        for url in urls:
            schema.downgrade(url, "2026_11_25_0930")
        upgrades = [  # separate processes, as separate servers' deploys would be
            subprocess.Popen([sys.executable, "-c", UPGRADE, url.url()]) for url in urls
        ]
        assert [process.wait(timeout=120) for process in upgrades] == [0] * len(urls)
        assert all(privilege(url, "validation_backlog") for url in urls)
        assert all(schema.current(url) == schema.head() for url in urls)
    finally:
        for name in names:
            drop_database(name)


def test_analyst_login_runs_ledger_report(
    seeded: DatabaseURL, analyst_login: tuple[str, str]
) -> None:
    name, password = analyst_login
    as_analyst = replace(seeded, user=name, password=password)
    code, stdout, stderr = invoke(as_analyst, "validation_backlog", "--format", "json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)[0]["pending_validation"] == 1

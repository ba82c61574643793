"""A store written by the phase-1 code still reads, verifies, exports and rebuilds the same; the
upgrade appends opening events for its accounts, which verify too."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from skill_ledger import migrate
from skill_ledger.audit.checkpoint import Checkpoint
from skill_ledger.domain import (
    GENESIS_HASH,
    MIGRATION,
    Actor,
    License,
    LicenseRow,
    Role,
    UserAccount,
    format_time,
)
from skill_ledger.readside.table import COLUMNS, row_values
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import create_database, drop_database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "phase1"
OLD_EVENTS, ACCOUNTS = 152, 9  # seven users and two licenses: one opening event each


@pytest.fixture
def phase1_sqlite(tmp_path: Path) -> DatabaseURL:
    """A copy of the phase-1 SQLite store."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURES / "sqlite" / "ledger.db", path)
    return DatabaseURL(backend="sqlite", path=str(path))


@pytest.fixture
def phase1_postgres(postgres_template: str) -> Iterator[DatabaseURL]:
    """The phase-1 PostgreSQL dump, restored into a fresh database."""
    name = f"ledger_p1_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    dump = FIXTURES / "postgresql" / "ledger.sql"
    subprocess.run(
        ["psql", "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", url.url(), "-f", dump],
        check=True,
        capture_output=True,
    )
    yield url
    drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def phase1(request: pytest.FixtureRequest) -> tuple[DatabaseURL, Path]:
    """Each backend's phase-1 store and the files made with it."""
    fixture = "phase1_sqlite" if request.param == "sqlite" else "phase1_postgres"
    url: DatabaseURL = request.getfixturevalue(fixture)
    return url, FIXTURES / request.param


def plain_rows(services: Services) -> list[dict[str, Any]]:
    """The read table as rows.json holds it."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return format_time(value)
        if isinstance(value, UUID):
            return str(value)
        return value

    rows = sorted(services.readmodel.all().values(), key=lambda row: str(row.id))
    return [dict(zip(COLUMNS, map(plain, row_values(row)), strict=True)) for row in rows]


def test_the_phase1_store_upgrades_verifies_exports_and_rebuilds_the_same(
    phase1: tuple[DatabaseURL, Path], open_services: Callable[..., Services]
) -> None:
    url, files = phase1
    assert migrate.current(url) == "2026_11_25_0950"
    migrate.upgrade(url)
    services = open_services(url)
    checkpoint = Checkpoint.from_json(json.loads((files / "checkpoint.json").read_text()))

    report = services.audit.verify(checkpoint)
    exported = io.BytesIO()
    services.audit.export(exported)
    before_rebuild = plain_rows(services)
    rebuilt = services.projector.rebuild()

    # The old events verify against the old checkpoint; the opening events verify after them.
    assert report.ok, [str(finding) for finding in report.findings]
    assert (report.events, report.streams, report.snapshots_checked) == (
        OLD_EVENTS + ACCOUNTS,
        12 + ACCOUNTS,
        2,
    )
    assert report.account_rows_compared == ACCOUNTS
    assert checkpoint.position == OLD_EVENTS
    assert services.audit.checkpoint().events == OLD_EVENTS + ACCOUNTS
    lines = exported.getvalue().splitlines(keepends=True)
    assert b"".join(lines[:OLD_EVENTS]) == (files / "export.jsonl").read_bytes()
    check_opening_events([json.loads(line) for line in lines[OLD_EVENTS:]], services)
    expected_rows = old_rows(files / "rows.json")
    assert before_rebuild == expected_rows
    assert (rebuilt.events, rebuilt.rows) == (OLD_EVENTS + ACCOUNTS, 70)
    assert plain_rows(services) == expected_rows


def old_rows(path: Path) -> list[dict[str, Any]]:
    """The rows an old store's file holds, with the columns added since (disputes) empty."""
    return [dict.fromkeys(COLUMNS) | row for row in json.loads(path.read_text())]


def check_opening_events(opening: list[dict[str, Any]], services: Services) -> None:
    """One event per account, after the old log, chained from genesis, byte for byte what the
    code writes for the account as the tables hold it, at the migration's time."""
    assert [e["type"] for e in opening] == ["Registered"] * 7 + ["Issued"] * 2
    assert {(e["role"], e["actor"], e["version"], e["prev_hash"]) for e in opening} == {
        (MIGRATION, None, 1, GENESIS_HASH)
    }
    at = datetime.fromisoformat(opening[0]["time"])
    users = services.accounts.users()
    licenses = services.accounts.licenses()
    code: list[Any] = [UserAccount.opening(user.row(), at=at) for user in users]
    code += [License.opening(LicenseRow(id=x.id, holder_id=x.holder_id), at=at) for x in licenses]
    mapper = services.eventlog.mapper
    with services.db.transaction(write=False) as cursor:
        stored = services.eventlog.read(cursor, OLD_EVENTS, ACCOUNTS)
    for aggregate, row in zip(code, stored, strict=True):
        [event] = aggregate.collect_events()
        written = mapper.to_stored_event(event)
        assert (written.originator_id, written.topic, bytes(written.state)) == (
            UUID(row.stream_id),
            row.topic,
            bytes(row.state),
        )
    assert [e["payload"]["email"] for e in opening[:7]] == [user.email for user in users]


def test_the_phase1_store_takes_new_commands_on_its_old_streams(
    phase1: tuple[DatabaseURL, Path], open_services: Callable[..., Services]
) -> None:
    url, _ = phase1
    migrate.upgrade(url)
    services = open_services(url)
    admin_user = services.accounts.find_user("admin2@fixture.test")
    assert admin_user is not None
    admin = Actor(admin_user.id, Role.ADMIN)
    shooting = services.ledger.record(2, "shooting")
    assert shooting.version > 100
    assert shooting.active is not None

    replaced = services.ledger.assess(admin, 2, "shooting", 21, 21, "after the upgrade")
    services.projector.catch_up()
    report = services.audit.verify()

    assert replaced.created
    assert report.ok, [str(finding) for finding in report.findings]
    assert report.events == OLD_EVENTS + ACCOUNTS + 2
    assert services.readmodel.get(replaced.assessment_id) is not None


def stored_positions(url: DatabaseURL) -> list[tuple[int, str, int]]:
    with sqlite3.connect(url.path) as conn:
        return conn.execute(
            "SELECT rowid, originator_id, originator_version FROM stored_events ORDER BY rowid"
        ).fetchall()


def test_the_stream_id_check_rebuilds_sqlite_tables_keeping_every_position(
    phase1_sqlite: DatabaseURL,
) -> None:
    before = stored_positions(phase1_sqlite)
    migrate.upgrade(phase1_sqlite)
    with sqlite3.connect(phase1_sqlite.path) as conn:
        schema = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))

    assert stored_positions(phase1_sqlite)[: len(before)] == before  # later revisions append
    assert len(before) == 152
    assert "ck_stored_events_stream_id" in schema["stored_events"]
    assert "ck_stored_snapshots_stream_id" in schema["stored_snapshots"]
    assert "WITHOUT ROWID" in schema["stored_snapshots"]


def test_a_store_holding_a_respelled_stream_id_refuses_the_upgrade_untouched(
    phase1_sqlite: DatabaseURL,
) -> None:
    with sqlite3.connect(phase1_sqlite.path) as conn:
        (stream,) = conn.execute("SELECT originator_id FROM stored_events LIMIT 1").fetchone()
        conn.execute(
            "UPDATE stored_events SET originator_id = ? WHERE originator_id = ?",
            (str(UUID(stream)), stream),
        )
    before = stored_positions(phase1_sqlite)

    with pytest.raises(RuntimeError, match=r"stored_events holds \d+ rows whose stream id"):
        migrate.upgrade(phase1_sqlite)

    assert migrate.current(phase1_sqlite) == "2026_11_25_0950"
    assert stored_positions(phase1_sqlite) == before

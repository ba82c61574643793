"""A store written before disputes still verifies, exports and rebuilds the same after the
upgrade."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from skill_ledger import migrate
from skill_ledger.audit.checkpoint import Checkpoint
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.integration.test_phase1_store import old_rows, plain_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "phase2" / "sqlite"
EVENTS, STREAMS, ROWS = 23, 15, 7


@pytest.fixture
def phase2_sqlite(tmp_path: Path) -> DatabaseURL:
    """A copy of the phase-2 SQLite store."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURES / "ledger.db", path)
    return DatabaseURL(backend="sqlite", path=str(path))


def test_the_phase2_store_upgrades_verifies_exports_and_rebuilds_the_same(
    phase2_sqlite: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    assert migrate.current(phase2_sqlite) == "2026_11_29_1400"
    migrate.upgrade(phase2_sqlite)
    services = open_services(phase2_sqlite)
    checkpoint = Checkpoint.from_json(json.loads((FIXTURES / "checkpoint.json").read_text()))

    report = services.audit.verify(checkpoint)
    exported = io.BytesIO()
    services.audit.export(exported)
    before_rebuild = plain_rows(services)
    rebuilt = services.projector.rebuild()

    assert report.ok, [str(finding) for finding in report.findings]
    assert (report.events, report.streams) == (EVENTS, STREAMS)
    assert exported.getvalue() == (FIXTURES / "export.jsonl").read_bytes()
    expected_rows = old_rows(FIXTURES / "rows.json")
    assert before_rebuild == expected_rows
    assert (rebuilt.events, rebuilt.rows) == (EVENTS, ROWS)
    assert plain_rows(services) == expected_rows

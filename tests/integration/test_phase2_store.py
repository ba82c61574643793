"""A store written before disputes still verifies, exports and rebuilds the same after the
upgrade."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from skill_ledger import migrate
from skill_ledger.application import CommandResult
from skill_ledger.audit.checkpoint import Checkpoint
from skill_ledger.domain import Actor, DisputeOutcome, Status
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.integration.test_phase1_store import old_rows, plain_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "phase2" / "sqlite"
VERIFIER = Path(__file__).resolve().parents[2] / "docs" / "verify_export.py"
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


def test_disputes_work_on_the_old_stores_assessments_and_everything_still_verifies(
    phase2_sqlite: DatabaseURL, open_services: Callable[..., Services], tmp_path: Path
) -> None:
    migrate.upgrade(phase2_sqlite)
    # The fixture's validations age; a long window keeps this test true in years to come.
    services = open_services(phase2_sqlite, dispute_window_days=36500)
    ledger, projector = services.ledger, services.projector
    people = {
        user.email.split("@")[0]: Actor(user.id, user.role) for user in services.accounts.users()
    }
    rows = {
        (row.user_license_id, row.skill_name): row
        for row in services.readmodel.all().values()
        if row.is_active
    }

    def run(command: Callable[[], CommandResult]) -> CommandResult:
        result = command()
        projector.catch_up()
        return result

    passing, dribbling = rows[(1, "passing")].id, rows[(1, "dribbling")].id
    crossing, passing2 = rows[(2, "crossing")].id, rows[(2, "passing")].id
    run(lambda: ledger.dispute(people["student1"], passing, "wrong drill"))
    run(lambda: ledger.dispute(people["student1"], dribbling, "too harsh"))
    run(lambda: ledger.dispute(people["student2"], crossing, "not me"))
    run(lambda: ledger.dispute(people["student2"], passing2, "unfair"))
    approved = run(lambda: ledger.resolve(people["admin2"], passing, DisputeOutcome.APPROVE, ""))
    modified = run(
        lambda: ledger.resolve(people["admin1"], dribbling, DisputeOutcome.MODIFY, "", (9, 10))
    )
    superseding = run(lambda: ledger.assess(people["instructor1"], 2, "crossing", 2, 4, ""))
    rejected = run(lambda: ledger.resolve(people["admin2"], passing2, DisputeOutcome.REJECT, "ok"))

    checkpoint = Checkpoint.from_json(json.loads((FIXTURES / "checkpoint.json").read_text()))
    report = services.audit.verify(checkpoint)
    live = plain_rows(services)
    rebuilt = services.projector.rebuild()
    export = tmp_path / "export.jsonl"
    with export.open("wb") as out:
        services.audit.export(out)
    standalone = subprocess.run(
        [sys.executable, str(VERIFIER), str(export), str(FIXTURES / "checkpoint.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    types = [json.loads(line)["type"] for line in export.read_text().splitlines()]
    state = services.trail.state(1, "dribbling", version=3)
    feed = services.trail.feed(EVENTS, 100)

    assert approved.assessment is not None
    assert approved.assessment.status is Status.ASSESSED
    assert modified.replacement is not None
    assert superseding.created
    assert rejected.assessment is not None
    assert rejected.assessment.status is Status.VALIDATED
    assert report.ok, [str(finding) for finding in report.findings]
    assert standalone.returncode == 0, standalone.stdout
    assert types.count("Disputed") == 4
    assert types.count("DisputeResolved") == 4
    assert plain_rows(services) == live
    assert rebuilt.rows == ROWS + 2  # the modify's and the superseding assessment
    assert [row.status for row in state.assessments] == [Status.DISPUTED]
    assert {record.type for record in feed.events} >= {"Disputed", "DisputeResolved"}
    outcomes = {row["dispute_outcome"] for row in live if row["dispute_outcome"] is not None}
    assert outcomes == {"approve", "modify", "superseded", "reject"}

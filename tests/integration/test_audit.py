"""Auditors' tools on real databases: export, checkpoint and verify (tampering done in PostgreSQL
itself), the stand-alone verifier from docs/audit.md, history, time travel and the global feed."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from typer.testing import CliRunner

from skill_ledger.audit.auditor import Audit
from skill_ledger.audit.checkpoint import Checkpoint
from skill_ledger.audit.findings import Finding, FindingKind, VerifyReport
from skill_ledger.audit.records import EventRecord, decode_event
from skill_ledger.audit.trail import AuditTrail as History
from skill_ledger.audit.trail import InvalidQuery, VersionNotFound, parse_as_of
from skill_ledger.cli import app
from skill_ledger.cli.audit import EXIT_FINDINGS
from skill_ledger.domain import (
    GENESIS_HASH,
    Assessment,
    Status,
    canonical_json,
    chain_hash,
    fold,
    record_id,
)
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS, Cast, seed_cast

DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass(frozen=True)
class Story:
    """A small ledger: three pairs with creations, a validation, replacements and an archive."""

    services: Services
    cast: Cast
    control: UUID  # ball_control: v1 assessed, v2 validated, v3 archived, v4 assessed, v5 archived
    passing: UUID  # passing: v1 assessed, v2 archived, v3 assessed
    dribbling: UUID  # dribbling: v1 assessed

    @property
    def audit(self) -> Audit:
        return Audit(self.services.db, self.services.eventlog)

    def verify(self, checkpoint: Checkpoint | None = None) -> VerifyReport:
        return self.audit.verify(checkpoint)


def tell_story(services: Services) -> Story:
    cast = seed_cast(services)
    ledger, license_id = services.ledger, cast.license_id
    project = services.projector.catch_up  # commands locate assessments in the read table
    first = ledger.assess(cast.instructor, license_id, "ball_control", 8, 10, "good first touch")
    project()
    ledger.validate(cast.admin, first.assessment_id)
    second = ledger.assess(cast.instructor, license_id, "ball_control", 9, 10, "better — ünïcode")
    project()
    ledger.archive(cast.admin, second.assessment_id, "wrong license")
    ledger.assess(cast.instructor, license_id, "passing", 5, 10)
    ledger.assess(cast.other_instructor, license_id, "passing", 6, 10, "steadier")
    ledger.assess(cast.instructor, license_id, "dribbling", 7, 10)
    services.projector.catch_up()
    return Story(
        services,
        cast,
        record_id(license_id, "ball_control"),
        record_id(license_id, "passing"),
        record_id(license_id, "dribbling"),
    )


@pytest.fixture
def story(services: Services) -> Story:
    """The story on each backend."""
    return tell_story(services)


@pytest.fixture
def pg_story(postgres_url: DatabaseURL, open_services: Callable[..., Services]) -> Story:
    """The story on PostgreSQL, where the tampering happens."""
    return tell_story(open_services(postgres_url))


def tamper(story: Story, sql: str, *params: Any) -> None:
    """Write to the database behind the ledger's back, as an intruder with SQL access would."""
    with psycopg.connect(story.services.db.url.conninfo(), autocommit=True) as conn:
        conn.execute(sql, params)


def swap_positions(story: Story, first: int, second: int) -> None:
    """Exchange two events' notification ids (through a free id: the index is unique)."""
    with psycopg.connect(story.services.db.url.conninfo()) as conn:
        for old, new in ((first, -1), (second, first), (-1, second)):
            conn.execute(
                "UPDATE ledger_events SET notification_id = %s WHERE notification_id = %s",
                (new, old),
            )


def position_of(story: Story, stream: UUID, version: int) -> int:
    with psycopg.connect(story.services.db.url.conninfo()) as conn:
        row = conn.execute(
            "SELECT notification_id FROM ledger_events "
            "WHERE originator_id = %s AND originator_version = %s",
            (stream, version),
        ).fetchone()
    assert row is not None
    return int(row[0])


def named(report: VerifyReport, kind: FindingKind, stream: UUID, version: int) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.kind is kind and f.stream == str(stream) and f.version == version
    ]


def export_jsonl(story: Story) -> list[dict[str, Any]]:
    buffer = io.BytesIO()
    story.audit.export(buffer)
    return [json.loads(line) for line in buffer.getvalue().decode().splitlines()]


# --- a clean ledger ----------------------------------------------------------------------------


def test_a_clean_ledger_verifies_with_its_checkpoint(story: Story) -> None:
    checkpoint = story.audit.checkpoint()
    report = story.verify(checkpoint)
    assert report.findings == []
    assert report.ok
    # The pairs' 9 events in 3 streams, and the cast's account events, one stream each.
    assert (report.events, report.streams, report.rows_compared) == (
        9 + CAST_EVENTS,
        3 + CAST_EVENTS,
        5,
    )
    assert report.account_rows_compared == CAST_EVENTS
    assert report.projected_position == report.head == checkpoint.position
    assert checkpoint.events == 9 + CAST_EVENTS
    assert (checkpoint.last_stream, checkpoint.last_version) == (str(story.dribbling), 1)


def test_an_empty_ledger_exports_nothing_and_verifies(
    database_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    services = open_services(database_url)
    audit = Audit(services.db, services.eventlog)
    jsonl, table = io.BytesIO(), io.BytesIO()
    audit.export(jsonl)
    audit.export(table, "csv")
    checkpoint = audit.checkpoint()
    report = audit.verify(checkpoint)
    assert jsonl.getvalue() == b""
    assert table.getvalue().decode().splitlines() == [
        "position,stream,version,type,time,actor,role,payload,prev_hash,hash"
    ]
    assert (checkpoint.position, checkpoint.events, checkpoint.digest) == (0, 0, GENESIS_HASH)
    assert report.ok
    assert report.events == 0


def test_export_lists_every_event_with_actor_role_time_and_chain(story: Story) -> None:
    events = export_jsonl(story)
    control = [e for e in events if e["stream"] == str(story.control)]
    assert [e["type"] for e in control] == [
        "Assessed",
        "Validated",
        "Archived",
        "Assessed",
        "Archived",
    ]
    assert [e["actor"] for e in control] == [
        story.cast.instructor.user_id,
        story.cast.admin.user_id,
        story.cast.instructor.user_id,
        story.cast.instructor.user_id,
        story.cast.admin.user_id,
    ]
    assert [e["role"] for e in control] == [
        "instructor",
        "admin",
        "instructor",
        "instructor",
        "admin",
    ]
    assert control[2]["payload"]["reason"] == "Replaced by new"
    assert control[3]["payload"]["replaces"] == control[0]["payload"]["assessment_id"]
    assert control[4]["payload"]["reason"] == "wrong license"
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert control[0]["prev_hash"] == GENESIS_HASH
    assert all(a["hash"] == b["prev_hash"] for a, b in itertools.pairwise(control))
    assert all(e["time"] == e["payload"]["timestamp"] for e in events)


def test_csv_export_carries_the_same_events_as_jsonl(story: Story) -> None:
    table = io.BytesIO()
    story.audit.export(table, "csv")
    rows = list(csv.DictReader(io.StringIO(table.getvalue().decode())))
    events = export_jsonl(story)
    assert [int(r["position"]) for r in rows] == [e["position"] for e in events]
    assert [r["payload"] for r in rows] == [canonical_json(e["payload"]).decode() for e in events]
    assert [r["hash"] for r in rows] == [e["hash"] for e in events]
    assert [r["actor"] for r in rows] == [
        "" if e["actor"] is None else str(e["actor"]) for e in events
    ]


# --- tampering in PostgreSQL -------------------------------------------------------------------


def test_an_edited_event_payload_is_named(pg_story: Story) -> None:
    tamper(
        pg_story,
        "UPDATE ledger_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"points_earned\":8', '\"points_earned\":10'), 'UTF8') "
        "WHERE originator_id = %s AND originator_version = 1",
        pg_story.control,
    )
    report = pg_story.verify()
    [edited] = named(report, FindingKind.EDITED_PAYLOAD, pg_story.control, 1)
    assert edited.position == position_of(pg_story, pg_story.control, 1)
    # The projection was built from the honest event, so the read table now disagrees too.
    assert named(report, FindingKind.READ_TABLE_DIFFERING_ROW, pg_story.control, 3)


def test_a_deleted_event_in_the_middle_of_a_stream_is_named(pg_story: Story) -> None:
    tamper(
        pg_story,
        "DELETE FROM ledger_events WHERE originator_id = %s AND originator_version = 2",
        pg_story.control,
    )
    report = pg_story.verify()
    assert named(report, FindingKind.DELETED_EVENT, pg_story.control, 2)
    assert not report.of_kind(FindingKind.EDITED_PAYLOAD)


def test_two_events_of_one_stream_swapped_in_position_are_reordered(pg_story: Story) -> None:
    first = position_of(pg_story, pg_story.passing, 1)
    second = position_of(pg_story, pg_story.passing, 2)
    swap_positions(pg_story, first, second)
    report = pg_story.verify()
    [reordered] = named(report, FindingKind.REORDERED, pg_story.passing, 1)
    assert reordered.position == second
    assert not report.of_kind(FindingKind.DELETED_EVENT)


def test_events_of_two_streams_swapped_in_position_break_the_checkpoint(pg_story: Story) -> None:
    checkpoint = pg_story.audit.checkpoint()
    first = position_of(pg_story, pg_story.control, 5)
    second = position_of(pg_story, pg_story.passing, 1)
    swap_positions(pg_story, first, second)
    report = pg_story.verify(checkpoint)
    [mismatch] = report.of_kind(FindingKind.CHECKPOINT_MISMATCH)
    assert mismatch.position == checkpoint.position
    assert "edited or reordered" in mismatch.detail


def test_the_deleted_last_event_of_the_log_is_named_by_the_checkpoint(pg_story: Story) -> None:
    checkpoint = pg_story.audit.checkpoint()
    last = position_of(pg_story, pg_story.dribbling, 1)
    tamper(pg_story, "DELETE FROM ledger_events WHERE notification_id = %s", last)
    report = pg_story.verify(checkpoint)
    [deleted] = named(report, FindingKind.DELETED_EVENT, pg_story.dribbling, 1)
    assert deleted.position == last == checkpoint.position
    assert report.of_kind(FindingKind.CHECKPOINT_MISMATCH)
    [extra] = report.of_kind(FindingKind.READ_TABLE_EXTRA_ROW)
    assert extra.stream == str(pg_story.dribbling)


def test_the_deleted_last_event_is_found_without_a_checkpoint(pg_story: Story) -> None:
    last = position_of(pg_story, pg_story.dribbling, 1)
    tamper(pg_story, "DELETE FROM ledger_events WHERE notification_id = %s", last)
    report = pg_story.verify()
    deleted = report.of_kind(FindingKind.DELETED_EVENT)
    assert [f.position for f in deleted] == [last]
    assert report.of_kind(FindingKind.READ_TABLE_EXTRA_ROW)


def test_an_edited_read_table_row_is_drift_naming_the_column(pg_story: Story) -> None:
    active = pg_story.services.readmodel.history(pg_story.cast.license_id, "passing")[0]
    tamper(
        pg_story,
        "UPDATE football_skill_assessments SET points_earned = 10 WHERE id = %s",
        active.id,
    )
    report = pg_story.verify()
    [drift] = report.findings
    assert drift.kind is FindingKind.READ_TABLE_DIFFERING_ROW
    assert (drift.stream, drift.version, drift.column) == (
        str(pg_story.passing),
        3,
        "points_earned",
    )
    assert drift.assessment_id == str(active.id)
    assert "10" in drift.detail
    assert "6" in drift.detail


def test_deleted_and_forged_read_table_rows_are_drift(pg_story: Story) -> None:
    row = pg_story.services.readmodel.history(pg_story.cast.license_id, "dribbling")[0]
    tamper(pg_story, "DELETE FROM football_skill_assessments WHERE id = %s", row.id)
    tamper(
        pg_story,
        "INSERT INTO football_skill_assessments (id, user_license_id, skill_name, points_earned, "
        "points_total, percentage, notes, status, requires_validation, assessed_by, assessed_at) "
        "VALUES (gen_random_uuid(), %s, 'shooting', 10, 10, 100, '', 'VALIDATED', false, %s, "
        "now())",
        pg_story.cast.license_id,
        pg_story.cast.instructor.user_id,
    )
    report = pg_story.verify()
    [missing] = report.of_kind(FindingKind.READ_TABLE_MISSING_ROW)
    [extra] = report.of_kind(FindingKind.READ_TABLE_EXTRA_ROW)
    assert (missing.stream, missing.version, missing.assessment_id) == (
        str(pg_story.dribbling),
        1,
        str(row.id),
    )
    assert extra.stream == str(record_id(pg_story.cast.license_id, "shooting"))
    assert len(report.findings) == 2


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(pg_story: Story) -> None:
    forge_stream(pg_story, pg_story.control, 3, rehash_rest=False)
    report = pg_story.verify()
    assert not report.of_kind(FindingKind.EDITED_PAYLOAD)
    [broken] = report.of_kind(FindingKind.CHAIN_BREAK)
    assert (broken.stream, broken.version) == (str(pg_story.control), 4)


def test_a_rewritten_stream_is_caught_only_by_the_checkpoint_kept_outside(pg_story: Story) -> None:
    checkpoint = pg_story.audit.checkpoint()
    forge_stream(pg_story, pg_story.control, 3, rehash_rest=True)
    assert not pg_story.verify().of_kind(FindingKind.CHAIN_BREAK)
    report = pg_story.verify(checkpoint)
    assert report.of_kind(FindingKind.CHECKPOINT_MISMATCH)
    assert not report.of_kind(FindingKind.CHAIN_BREAK)


def forge_stream(story: Story, stream: UUID, version: int, *, rehash_rest: bool) -> None:
    """Change one event's notes/reason and give it (and maybe its successors) valid hashes."""
    prev = None
    for event in [e for e in export_jsonl(story) if e["stream"] == str(stream)]:
        if event["version"] < version:
            continue
        if event["version"] > version and not rehash_rest:
            break
        payload = dict(event["payload"])
        if event["version"] == version:
            payload["reason"] = "forged reason"
        prev_hash = prev or event["prev_hash"]
        digest = chain_hash(event["stream"], event["version"], event["type"], payload, prev_hash)
        state = {**payload, "prev_hash": prev_hash, "hash": digest}
        tamper(
            story,
            "UPDATE ledger_events SET state = %s WHERE notification_id = %s",
            json.dumps(state).encode(),
            event["position"],
        )
        prev = digest


def test_a_tampered_snapshot_is_drift(
    postgres_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    story = tell_story(open_services(postgres_url, snapshot_interval=2))
    assert story.verify().snapshots_checked == 3  # control v2 and v4, passing v2
    tamper(
        story,
        "UPDATE ledger_snapshots SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"points_earned\":9', '\"points_earned\":2'), 'UTF8') "
        "WHERE originator_id = %s AND originator_version = 4",
        story.control,
    )
    report = story.verify()
    [drift] = report.findings
    assert drift.kind is FindingKind.SNAPSHOT_DRIFT
    assert (drift.stream, drift.version, drift.column) == (str(story.control), 4, "active")


def test_unreadable_events_are_named_not_fatal(pg_story: Story) -> None:
    tamper(
        pg_story,
        "UPDATE ledger_events SET state = 'not json' "
        "WHERE originator_id = %s AND originator_version = 1",
        pg_story.dribbling,
    )
    tamper(
        pg_story,
        "UPDATE ledger_events SET topic = 'os:system' "
        "WHERE originator_id = %s AND originator_version = 1",
        pg_story.passing,
    )
    report = pg_story.verify()
    assert named(report, FindingKind.UNREADABLE_EVENT, pg_story.dribbling, 1)
    assert named(report, FindingKind.EDITED_PAYLOAD, pg_story.passing, 1)  # the type is hashed
    assert named(report, FindingKind.UNREADABLE_EVENT, pg_story.passing, 1)
    assert named(report, FindingKind.REPLAY_FAILED, pg_story.passing, 2)


def test_tampering_in_sqlite_is_named_too(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    story = tell_story(open_services(sqlite_url))
    with sqlite3.connect(sqlite_url.path) as conn:
        conn.execute(
            "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), "
            "'\"points_earned\":8', '\"points_earned\":10') AS BLOB) "
            "WHERE originator_id = ? AND originator_version = 1",
            (story.control.hex,),
        )
        conn.execute(
            "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 2",
            (story.passing.hex,),
        )
    report = story.verify()
    assert named(report, FindingKind.EDITED_PAYLOAD, story.control, 1)
    assert named(report, FindingKind.DELETED_EVENT, story.passing, 2)


def respell(sqlite_url: DatabaseURL, sql: str, *params: Any) -> None:
    """Edit the SQLite file with its CHECK constraints ignored, as a hex editor could."""
    with sqlite3.connect(sqlite_url.path) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute(sql, params)


@pytest.mark.parametrize("spelling", [str, lambda stream: stream.hex.upper()])
def test_a_stream_id_respelled_in_sqlite_is_named_not_verified_clean(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services], spelling: Any
) -> None:
    story = tell_story(open_services(sqlite_url))
    checkpoint = story.audit.checkpoint()
    respell(
        sqlite_url,
        "UPDATE stored_events SET originator_id = ? WHERE originator_id = ? "
        "AND originator_version = 2",
        spelling(story.passing),
        story.passing.hex,
    )
    report = story.verify(checkpoint)
    found = named(report, FindingKind.NON_CANONICAL, story.passing, 2)
    assert found, [str(f) for f in report.findings]
    assert spelling(story.passing) in found[0].detail
    assert not report.ok


def test_a_snapshot_stream_id_respelled_in_sqlite_is_named(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    story = tell_story(open_services(sqlite_url, snapshot_interval=2))
    respell(
        sqlite_url,
        "UPDATE stored_snapshots SET originator_id = ? WHERE originator_id = ?",
        str(story.control),
        story.control.hex,
    )
    report = story.verify()
    assert [f.kind for f in report.findings] == [FindingKind.NON_CANONICAL] * 2  # v2 and v4


def test_sqlite_refuses_a_stream_id_in_any_spelling_but_the_canonical_one(
    sqlite_url: DatabaseURL, open_services: Callable[..., Services]
) -> None:
    story = tell_story(open_services(sqlite_url, snapshot_interval=2))
    for table in ("stored_events", "stored_snapshots"):
        for spelling in (str(story.control), story.control.hex.upper(), "not-a-uuid"):
            with sqlite3.connect(sqlite_url.path) as conn, pytest.raises(sqlite3.IntegrityError):
                conn.execute(
                    f"UPDATE {table} SET originator_id = ? WHERE originator_id = ?",
                    (spelling, story.control.hex),
                )
    with sqlite3.connect(sqlite_url.path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO stored_events VALUES (?, 1, 'skill_ledger.domain:SkillRecord.Assessed', "
            "'{}')",
            (str(record_id(story.cast.license_id, "heading")),),
        )
    assert story.verify().ok


def test_a_respelled_topic_in_postgresql_is_named(pg_story: Story) -> None:
    tamper(
        pg_story,
        "UPDATE ledger_events SET topic = 'skill_ledger.domain.record:SkillRecord.Assessed' "
        "WHERE originator_id = %s AND originator_version = 1",
        pg_story.dribbling,
    )
    report = pg_story.verify()
    found = named(report, FindingKind.NON_CANONICAL, pg_story.dribbling, 1)
    assert found, [str(f) for f in report.findings]
    assert "skill_ledger.domain:SkillRecord.Assessed" in found[0].detail


# --- the stand-alone verifier from docs/audit.md ----------------------------------------------


def standalone_verifier(tmp_path: Path) -> Path:
    """The verifier exactly as docs/audit.md prints it, written to a file."""
    markdown = (DOCS / "audit.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- verifier -->\n```python\n(.*?)```", markdown, re.DOTALL)
    assert match is not None, "docs/audit.md lost its verifier block"
    path = tmp_path / "verify_export.py"
    path.write_text(match.group(1), encoding="utf-8")
    return path


def test_the_documented_verifier_is_the_one_kept_under_docs(tmp_path: Path) -> None:
    extracted = standalone_verifier(tmp_path).read_text(encoding="utf-8")
    assert extracted == (DOCS / "verify_export.py").read_text(encoding="utf-8")
    assert len(extracted.splitlines()) <= 45


def run_standalone(verifier: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(verifier), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_standalone_verifier_accepts_a_clean_export_and_rejects_an_edited_one(
    story: Story, tmp_path: Path
) -> None:
    verifier = standalone_verifier(tmp_path)
    export, checkpoint = tmp_path / "ledger.jsonl", tmp_path / "checkpoint.json"
    with export.open("wb") as out:
        story.audit.export(out)
    checkpoint.write_text(json.dumps(story.audit.checkpoint().to_json()))
    clean = run_standalone(verifier, export, checkpoint)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("OK")

    lines = export.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[3])
    edited["payload"]["points_earned"] = 10
    lines[3] = json.dumps(edited, ensure_ascii=False)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejected = run_standalone(verifier, export)
    assert rejected.returncode == 1
    where = f"stream {edited['stream']} version {edited['version']} position {edited['position']}"
    assert f"{where}: hash does not match" in rejected.stdout


def test_the_standalone_verifier_rejects_an_export_missing_the_checkpointed_tail(
    story: Story, tmp_path: Path
) -> None:
    verifier = standalone_verifier(tmp_path)
    export, checkpoint = tmp_path / "ledger.jsonl", tmp_path / "checkpoint.json"
    checkpoint.write_text(json.dumps(story.audit.checkpoint().to_json()))
    with export.open("wb") as out:
        story.audit.export(out)
    lines = export.read_text(encoding="utf-8").splitlines()
    export.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    assert run_standalone(verifier, export).returncode == 0  # the chains alone cannot tell
    rejected = run_standalone(verifier, export, checkpoint)
    assert rejected.returncode == 1
    assert "checkpoint at position" in rejected.stdout


# --- history, time travel and the feed ----------------------------------------------------------


def replay(story: Story, stream: UUID, version: int) -> dict[UUID, Assessment]:
    """The oracle: decode the stored events up to a version and fold them."""
    eventlog = story.services.eventlog
    with story.services.db.transaction(write=False) as cursor:
        rows = eventlog.read_stream(cursor, stream, version)
    return fold({}, (decode_event(row, eventlog.mapper) for row in rows))


def test_time_travel_by_version_matches_a_replay_at_that_version(story: Story) -> None:
    history = History(story.services.db, story.services.eventlog)
    license_id = story.cast.license_id
    for version in range(1, 6):
        state = history.state(license_id, "ball_control", version=version)
        record = story.services.ledger.record(license_id, "ball_control", version=version)
        assert state.version == version
        assert {row.id: row for row in state.assessments} == replay(story, story.control, version)
        assert state.active == record.active
    assert history.state(license_id, "ball_control", version=0).assessments == []
    with pytest.raises(VersionNotFound):
        history.state(license_id, "ball_control", version=6)


def test_time_travel_by_time_stops_at_the_last_event_not_after_it(story: Story) -> None:
    history = History(story.services.db, story.services.eventlog)
    license_id = story.cast.license_id
    events = history.events(license_id, "ball_control")
    for event in events:
        assert event.time is not None
        moment = parse_as_of(event.time)
        state = history.state(license_id, "ball_control", as_of=moment)
        assert state.version == event.version
        assert state.as_of == moment
        assert {row.id: row for row in state.assessments} == replay(
            story, story.control, event.version
        )
    before = parse_as_of("2000-01-01T00:00:00Z")
    assert history.state(license_id, "ball_control", as_of=before).version == 0
    validated = history.state(license_id, "ball_control", as_of=parse_as_of(events[1].time or ""))
    assert validated.active is not None
    assert validated.active.status is Status.VALIDATED
    with pytest.raises(InvalidQuery):
        parse_as_of("2026-01-01T00:00:00")
    with pytest.raises(InvalidQuery):
        history.state(license_id, "ball_control", version=1, as_of=before)


def test_a_pairs_history_lists_who_did_what_when_with_hashes(story: Story) -> None:
    history = History(story.services.db, story.services.eventlog)
    events = history.events(story.cast.license_id, "passing")
    assert [(e.version, e.type, e.actor, e.role) for e in events] == [
        (1, "Assessed", story.cast.instructor.user_id, "instructor"),
        (2, "Archived", story.cast.other_instructor.user_id, "instructor"),
        (3, "Assessed", story.cast.other_instructor.user_id, "instructor"),
    ]
    assert all(isinstance(e, EventRecord) and e.recomputed_hash() == e.hash for e in events)
    assert events[2].payload is not None
    assert events[2].payload["notes"] == "steadier"
    assert history.events(story.cast.license_id, "heading") == []


def test_the_feed_pages_through_every_event_once_in_order(story: Story) -> None:
    history = History(story.services.db, story.services.eventlog)
    seen: list[int] = []
    after, pages = 0, 0
    while True:
        page = history.feed(after=after, limit=3)
        seen.extend(e.position for e in page.events)
        after, pages = page.next_after, pages + 1
        if not page.has_more:
            break
    assert seen == [e["position"] for e in export_jsonl(story)]
    assert pages == -(-(9 + CAST_EVENTS) // 3)
    empty = history.feed(after=after, limit=3)
    assert (empty.events, empty.next_after, empty.has_more) == ([], after, False)
    with pytest.raises(InvalidQuery):
        history.feed(after=0, limit=0)


# --- the CLI -------------------------------------------------------------------------------------


def test_cli_exports_checkpoints_and_verifies_then_exits_4_on_tampering(
    pg_story: Story, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"LEDGER_DATABASE_URL": pg_story.services.db.url.url()}
    export, checkpoint = tmp_path / "ledger.csv", tmp_path / "checkpoint.json"

    exported = runner.invoke(
        app, ["audit", "export", "--format", "csv", "--out", str(export)], env=env
    )
    taken = runner.invoke(app, ["audit", "checkpoint", "--out", str(checkpoint)], env=env)
    clean = runner.invoke(app, ["audit", "verify", "--checkpoint", str(checkpoint)], env=env)
    assert (exported.exit_code, taken.exit_code, clean.exit_code) == (0, 0, 0), clean.output
    assert len(export.read_text(encoding="utf-8").splitlines()) == 1 + 9 + CAST_EVENTS
    assert json.loads(checkpoint.read_text())["events"] == 9 + CAST_EVENTS

    tamper(
        pg_story,
        "DELETE FROM ledger_events WHERE originator_id = %s AND originator_version = 2",
        pg_story.passing,
    )
    dirty = runner.invoke(app, ["audit", "verify", "--checkpoint", str(checkpoint)], env=env)
    assert dirty.exit_code == EXIT_FINDINGS
    assert f"deleted-event: stream {pg_story.passing} version 2" in dirty.stdout
    assert "checkpoint-mismatch" in dirty.stdout

    as_json = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert as_json.exit_code == EXIT_FINDINGS
    assert json.loads(as_json.stdout)["ok"] is False


def test_cli_fails_cleanly_on_files_it_cannot_use(pg_story: Story, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"position": "x"}')
    env = {"LEDGER_DATABASE_URL": pg_story.services.db.url.url()}
    runner = CliRunner()
    refused = runner.invoke(app, ["audit", "verify", "--checkpoint", str(bogus)], env=env)
    unwritable = runner.invoke(
        app, ["audit", "export", "--out", str(tmp_path / "missing" / "x.jsonl")], env=env
    )
    assert refused.exit_code == 2
    assert "not a ledger checkpoint" in " ".join(refused.stderr.split())
    assert unwritable.exit_code == 2
    assert "cannot write" in unwritable.stderr

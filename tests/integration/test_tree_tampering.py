"""Tampering after a signed checkpoint (done in PostgreSQL itself): verify names the position,
the notary refuses to sign on, an old receipt fits no consistent later checkpoint; the CLI."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import msgspec
import psycopg
import pytest
from typer.testing import CliRunner

from skill_ledger.audit.findings import FindingKind, VerifyReport
from skill_ledger.audit.leaves import digest_query
from skill_ledger.audit.notary import CheckpointRefused
from skill_ledger.audit.receipts import b64
from skill_ledger.audit.signing import SignedCheckpoint, VerifierKey
from skill_ledger.cli import app
from skill_ledger.cli.audit import EXIT_FINDINGS
from skill_ledger.domain import chain_hash
from skill_ledger.services import Services
from skill_ledger.settings import DatabaseURL
from tests.conftest import CAST_EVENTS
from tests.integration.test_audit import (
    Story,
    position_of,
    swap_positions,
    tamper,
    tell_story,
)
from tests.integration.test_log_tree import run_verifier, stored_nodes


@pytest.fixture
def pg_story(postgres_url: DatabaseURL, open_services: Callable[..., Services]) -> Story:
    """The audit tests' story on PostgreSQL, where the tampering happens."""
    return tell_story(open_services(postgres_url))


def signed_now(story: Story) -> SignedCheckpoint:
    """The tree caught up and a checkpoint of it signed: what an auditor saves."""
    story.services.tree.catch_up()
    assert story.services.notary is not None
    return story.services.notary.sign()


def verify(story: Story, signed: SignedCheckpoint) -> VerifyReport:
    return story.audit.verify(signed=signed)


def mismatch_positions(report: VerifyReport) -> list[int | None]:
    return [f.position for f in report.of_kind(FindingKind.CHECKPOINT_MISMATCH)]


def test_a_clean_ledger_verifies_against_its_signed_checkpoint(pg_story: Story) -> None:
    signed = signed_now(pg_story)
    report = verify(pg_story, signed)
    assert report.ok, report.findings
    assert report.leaves_compared == signed.size == 9 + CAST_EVENTS


def test_an_edited_payload_is_named_by_its_position(pg_story: Story) -> None:
    signed = signed_now(pg_story)
    position = position_of(pg_story, pg_story.passing, 1)
    tamper(
        pg_story,
        "UPDATE ledger_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"points_earned\":5', '\"points_earned\":9'), 'UTF8') WHERE notification_id = %s",
        position,
    )
    report = verify(pg_story, signed)
    assert [f.position for f in report.of_kind(FindingKind.EDITED_PAYLOAD)] == [position]


def test_a_rebuild_hashed_by_the_server_equals_one_hashed_here_whatever_the_rows_hold(
    pg_story: Story,
) -> None:
    services = pg_story.services
    first, second = (position_of(pg_story, pg_story.passing, v) for v in (1, 2))
    tamper(
        pg_story,
        "UPDATE ledger_events SET topic = topic || '\"<\\\\x>' WHERE notification_id = %s",
        first,
    )
    tamper(
        pg_story,
        "UPDATE ledger_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        "'\"hash\":\"', '\"hash\":\"\\\\u00e9\\\\t'), 'UTF8') WHERE notification_id = %s",
        second,
    )
    query = digest_query(services.db, services.eventlog.mapper)
    assert query is not None
    with services.db.transaction(write=False) as cursor:
        digests = services.db.fetch_raw(cursor, query, [0, 10**9, 10**9])
    assert {position for position, digest in digests if digest is None} == {first, second}
    services.tree.rebuild(server_hashing=False)
    by_python = stored_nodes(services.db)
    services.tree.rebuild()  # the server hashes; the two odd rows fall back to Python
    assert stored_nodes(services.db) == by_python
    tamper(
        pg_story, "UPDATE ledger_events SET state = 'not json' WHERE notification_id = %s", first
    )
    services.tree.rebuild(server_hashing=False)
    by_python = stored_nodes(services.db)
    services.tree.rebuild()  # the server cannot parse the log: hashed here from the start
    assert stored_nodes(services.db) == by_python
    assert len(by_python) > 9 + CAST_EVENTS


def test_a_deleted_event_is_named_by_its_position(pg_story: Story) -> None:
    signed = signed_now(pg_story)
    position = position_of(pg_story, pg_story.passing, 2)
    tamper(pg_story, "DELETE FROM ledger_events WHERE notification_id = %s", position)
    report = verify(pg_story, signed)
    assert mismatch_positions(report) == [position]
    assert [f.position for f in report.of_kind(FindingKind.TREE_MISMATCH)] == [position]


def test_a_reorder_is_named_by_the_first_position_moved(pg_story: Story) -> None:
    signed = signed_now(pg_story)
    first = position_of(pg_story, pg_story.control, 2)
    second = position_of(pg_story, pg_story.dribbling, 1)
    swap_positions(pg_story, first, second)
    assert mismatch_positions(verify(pg_story, signed)) == [first]


def test_a_truncated_tail_is_named_by_the_first_position_cut(pg_story: Story) -> None:
    signed = signed_now(pg_story)
    cut = position_of(pg_story, pg_story.passing, 3)
    tamper(pg_story, "DELETE FROM ledger_events WHERE notification_id >= %s", cut)
    report = verify(pg_story, signed)
    assert mismatch_positions(report) == [cut]
    found = report.of_kind(FindingKind.CHECKPOINT_MISMATCH)
    assert f"covers {9 + CAST_EVENTS} events; the log holds {7 + CAST_EVENTS}" in found[0].detail


def rewrite_stream(story: Story, version: int, points: int) -> int:
    """Rewrite one Assessed event of `passing` and re-chain the stream after it: the chains
    verify again, only the tree and the checkpoint can tell. Returns its position."""
    position = position_of(story, story.passing, version)
    with psycopg.connect(story.services.db.url.conninfo()) as conn:
        rows = conn.execute(
            "SELECT notification_id, originator_version, topic, state FROM ledger_events "
            "WHERE originator_id = %s ORDER BY originator_version",
            (story.passing,),
        ).fetchall()
        prev = "0" * 64
        for notification_id, v, topic, state in rows:
            document = json.loads(bytes(state))
            if v == version:
                document["points_earned"] = points
            if v >= version:
                document["prev_hash"] = prev
                payload = {k: x for k, x in document.items() if k not in ("prev_hash", "hash")}
                document["hash"] = chain_hash(
                    str(story.passing), v, topic.rpartition(".")[2], payload, prev
                )
                conn.execute(
                    "UPDATE ledger_events SET state = %s WHERE notification_id = %s",
                    (json.dumps(document).encode(), notification_id),
                )
            prev = document["hash"]
    return position


def test_a_rewrite_with_recomputed_chains_is_named_by_its_position(pg_story: Story) -> None:
    signed = signed_now(pg_story)
    position = rewrite_stream(pg_story, 3, 10)
    report = verify(pg_story, signed)
    assert not report.of_kind(FindingKind.EDITED_PAYLOAD)
    assert not report.of_kind(FindingKind.CHAIN_BREAK)
    assert mismatch_positions(report) == [position]


def test_after_a_rewrite_the_notary_refuses_and_an_old_receipt_fits_no_later_checkpoint(
    pg_story: Story, tmp_path: Path
) -> None:
    services = pg_story.services
    assert services.notary is not None
    key = services.notary.verifier.text()
    assessment = services.readmodel.history(pg_story.cast.license_id, "passing")[0].id
    receipt = services.assessments.receipt(None, assessment)
    (tmp_path / "receipt.json").write_bytes(msgspec.json.encode(receipt))
    (tmp_path / "old.note").write_text(receipt.checkpoint)
    assert run_verifier("receipt", str(tmp_path / "receipt.json"), "--key", key).returncode == 0

    rewrite_stream(pg_story, 3, 10)  # the very assessment the receipt is about
    services.tree.rebuild()  # the intruder hides the rewrite from the tree too
    services.ledger.assess(pg_story.cast.instructor, pg_story.cast.license_id, "heading", 4, 10)
    services.tree.catch_up()
    with pytest.raises(CheckpointRefused):
        services.notary.sign()

    tamper(pg_story, "DELETE FROM log_checkpoints")  # ... and the checkpoints it signed
    later = services.notary.sign()
    (tmp_path / "new.note").write_text(later.note)
    with services.db.snapshot() as cursor:
        step = services.tree.consistency(cursor, receipt.tree_size, later.size)
    proof = {
        "from": step.old,
        "to": step.new,
        "consistency_proof": [b64(h) for h in step.path],
    }
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    checked = run_verifier(
        "consistency",
        *(str(tmp_path / f) for f in ("old.note", "new.note", "proof.json")),
        "--key",
        key,
    )
    assert checked.returncode == 1
    assert "does not extend the tree of" in checked.stdout
    again = services.assessments.receipt(None, assessment)
    assert again.root_hash != receipt.root_hash
    assert again.events[0].event.hash != receipt.events[0].event.hash


def test_cli_keygen_signed_checkpoint_verify_receipt_and_tree_rebuild(
    pg_story: Story, tmp_path: Path
) -> None:
    runner = CliRunner()
    key, note, receipt = tmp_path / "ledger.key", tmp_path / "cp.note", tmp_path / "r.json"
    made = runner.invoke(app, ["audit", "keygen", "--out", str(key), "--origin", "lfa.test/log"])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    vkey = VerifierKey.parse((tmp_path / "ledger.key.pub").read_text())
    assert vkey.name == "lfa.test/log"
    assert made.stdout.strip() == vkey.text()
    again = runner.invoke(app, ["audit", "keygen", "--out", str(key)])
    assert again.exit_code == 1  # an existing key is never replaced

    env = {
        "LEDGER_DATABASE_URL": pg_story.services.db.url.url(),
        "LEDGER_SIGNING_KEY_FILE": str(key),
    }
    taken = runner.invoke(app, ["audit", "checkpoint", "--signed", "--out", str(note)], env=env)
    assert taken.exit_code == 0, taken.output
    assert note.read_text().startswith(f"lfa.test/log\n{9 + CAST_EVENTS}\n")
    clean = runner.invoke(app, ["audit", "verify", "--checkpoint", str(note)], env=env)
    assert clean.exit_code == 0, clean.output
    assessment = pg_story.services.readmodel.history(pg_story.cast.license_id, "passing")[0].id
    got = runner.invoke(app, ["audit", "receipt", str(assessment), "--out", str(receipt)], env=env)
    assert got.exit_code == 0, got.output
    checked = run_verifier("receipt", str(receipt), "--key", str(tmp_path / "ledger.key.pub"))
    assert checked.returncode == 0, checked.stdout

    position = rewrite_stream(pg_story, 3, 10)
    pub = str(tmp_path / "ledger.key.pub")
    plain_env = {"LEDGER_DATABASE_URL": env["LEDGER_DATABASE_URL"]}
    dirty = runner.invoke(
        app, ["audit", "verify", "--checkpoint", str(note), "--key", pub], env=plain_env
    )
    assert dirty.exit_code == EXIT_FINDINGS
    assert f"checkpoint-mismatch: position {position}:" in dirty.stdout

    rebuilt = runner.invoke(app, ["audit", "tree", "rebuild"], env=env)
    assert rebuilt.exit_code == 0
    assert f"rebuilt the tree of {9 + CAST_EVENTS} leaves" in rebuilt.stdout
    hidden = runner.invoke(app, ["audit", "verify", "--checkpoint", str(note)], env=env)
    assert hidden.exit_code == EXIT_FINDINGS
    assert "no longer holds the signed leaves" in " ".join(hidden.stdout.split())
    unsigned = runner.invoke(app, ["audit", "verify", "--checkpoint", str(note)], env=plain_env)
    assert unsigned.exit_code == 2
    assert "pass --key" in unsigned.stderr

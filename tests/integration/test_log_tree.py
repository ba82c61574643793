"""The log's Merkle tree on real databases: kept incrementally, rebuilt, signed, proved."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from skill_ledger.audit.leaves import canonical_leaf, chain_hash_of, stream_text
from skill_ledger.audit.notary import CheckpointRefused, TreeKeeper
from skill_ledger.audit.signing import open_checkpoint
from skill_ledger.audit.tree import NODES, PositionNotInTree, TreeSizeInvalid
from skill_ledger.database import Database
from skill_ledger.domain import Role
from skill_ledger.domain.errors import NotPermitted
from skill_ledger.domain.merkle import (
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from skill_ledger.services import Services
from tests.conftest import CAST_EVENTS, Cast, seed_cast

DOCS = Path(__file__).resolve().parents[2] / "docs"
SKILLS = ("ball_control", "dribbling", "passing", "shooting", "heading")


def record(services: Services, cast: Cast, commands: int, start: int = 0) -> None:
    """Assessments with replacements (2 events each after the first), projected."""
    for i in range(start, start + commands):
        skill = SKILLS[i % len(SKILLS)]
        services.ledger.assess(cast.instructor, cast.license_id, skill, i % 9 + 1, 10)
        services.projector.catch_up()


def logged_leaves(services: Services) -> list[tuple[int, bytes]]:
    """(position, leaf hash) of every event, computed here from the raw rows."""
    with services.db.snapshot() as cursor:
        rows = services.eventlog.read(cursor, 0, 1_000_000)
    return [
        (
            row.position,
            leaf_hash(
                canonical_leaf(
                    row.position,
                    stream_text(row.stream_id),
                    row.version,
                    row.topic.rpartition(".")[2],
                    chain_hash_of(row.state, services.eventlog.mapper),
                )
            ),
        )
        for row in rows
    ]


def stored_nodes(db: Database) -> list[tuple[Any, ...]]:
    with db.transaction(write=False) as cursor:
        cursor.execute(f"SELECT level, idx, position, hash FROM {NODES} ORDER BY level, idx")
        return [(int(a), int(b), c, bytes(d)) for a, b, c, d in cursor.fetchall()]


@pytest.fixture
def grown(services: Services, cast: Cast) -> Services:
    """A ledger of 41 assessment events after the cast's, tree not yet kept."""
    record(services, cast, 23)
    return services


def test_tree_appended_in_small_batches_equals_a_rebuild_and_the_definition(
    grown: Services,
) -> None:
    leaves = logged_leaves(grown)
    size = 41 + CAST_EVENTS
    assert len(leaves) == size
    appended = 0
    while appended < len(leaves):  # 7-event transactions cross the 16-leaf blocks unaligned
        appended += grown.tree.catch_up(batch=7, upto=leaves[min(appended + 6, size - 1)][0])
    with grown.db.snapshot() as cursor:
        assert grown.tree.size(cursor) == size
        roots = [grown.tree.root(cursor, n) for n in range(size + 1)]
    assert roots == [root_of([h for _, h in leaves[:n]]) for n in range(size + 1)]
    incremental = stored_nodes(grown.db)
    assert [n[0] for n in incremental].count(4) == size // 16  # one root per full 16-leaf block
    stats = grown.tree.rebuild()
    assert (stats.size, stats.position) == (size, leaves[-1][0])
    assert stored_nodes(grown.db) == incremental
    assert grown.tree.state() == (size, leaves[-1][0], leaves[-1][0])


def test_every_inclusion_and_consistency_proof_verifies(grown: Services) -> None:
    grown.tree.catch_up()
    leaves = logged_leaves(grown)
    with grown.db.snapshot() as cursor:
        for size in range(1, len(leaves) + 1):
            root = root_of([h for _, h in leaves[:size]])
            for index in range(size):
                proof = grown.tree.inclusion(cursor, leaves[index][0], size)
                assert (proof.index, proof.leaf, proof.root) == (index, leaves[index][1], root)
                verify_inclusion(index, size, proof.leaf, proof.path, root)
            for old in range(1, size + 1):
                step = grown.tree.consistency(cursor, old, size)
                verify_consistency(old, size, step.old_root, root, step.path)


def test_proofs_refuse_sizes_beyond_the_tree_and_positions_outside_it(grown: Services) -> None:
    leaves = logged_leaves(grown)
    grown.tree.catch_up(upto=leaves[9][0])  # a tree of 10 leaves
    last = leaves[-1][0]
    with grown.db.snapshot() as cursor:
        with pytest.raises(TreeSizeInvalid, match="beyond the tree, which has 10 leaves"):
            grown.tree.inclusion(cursor, 1, 11)
        with pytest.raises(PositionNotInTree):
            grown.tree.inclusion(cursor, last, 10)  # logged, but not yet a leaf
        with pytest.raises(PositionNotInTree):
            grown.tree.inclusion(cursor, leaves[9][0], 9)
        with pytest.raises(TreeSizeInvalid):
            grown.tree.consistency(cursor, 5, 11)
        with pytest.raises(TreeSizeInvalid):
            grown.tree.consistency(cursor, 6, 5)


def test_events_of_topics_this_code_does_not_know_are_leaves_too(
    services: Services, cast: Cast
) -> None:
    record(services, cast, 2)
    state = json.dumps({"email": "a@b.c", "prev_hash": "0" * 64, "hash": "ab" * 32}).encode()
    with services.db.transaction() as cursor:
        cursor.execute(
            f"INSERT INTO {services.db.events_table} "
            "(originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
            (
                services.db.stream_param(uuid.uuid4()),
                1,
                "skill_ledger.domain:Account.Registered",
                state,
            ),
        )
    assert services.tree.catch_up() == 3 + CAST_EVENTS
    leaves = logged_leaves(services)
    with services.db.snapshot() as cursor:
        assert services.tree.root(cursor, 3 + CAST_EVENTS) == root_of([h for _, h in leaves])
        assert services.tree.leaf_at(cursor, leaves[-1][0]) == (2 + CAST_EVENTS, leaves[-1][1])


def test_checkpoints_are_signed_notes_of_the_tree_and_only_when_it_grew(
    services: Services, cast: Cast
) -> None:
    notary = services.notary
    assert notary is not None
    empty = notary.sign()
    assert (empty.size, empty.note.splitlines()[:2]) == (0, [notary.key.name, "0"])
    record(services, cast, 3)
    services.tree.catch_up()
    first = notary.sign()
    assert open_checkpoint(first.note, notary.verifier) == first
    assert first.size == 3 + CAST_EVENTS
    assert notary.sign() == first  # nothing new: the same checkpoint
    assert notary.covering(2) == first
    record(services, cast, 1, start=5)
    keeper = TreeKeeper(services.db, services.tree, notary, checkpoint_seconds=60)
    assert keeper.step() == 2  # a replacement: Archived and Assessed
    with services.db.transaction(write=False) as cursor:
        latest = notary.latest(cursor)
    assert latest is not None
    assert latest.size == 5 + CAST_EVENTS


def test_a_receipt_proves_its_assessments_events_offline(
    services: Services, cast: Cast, tmp_path: Path
) -> None:
    record(services, cast, 6)
    done = services.ledger.assess(cast.admin, cast.license_id, "vision", 9, 10, "seen")
    services.projector.catch_up()
    receipt = services.assessments.receipt(cast.student, done.assessment_id)
    assert [e.event.type for e in receipt.events] == ["Assessed"]
    assert receipt.tree_size == len(logged_leaves(services))
    path = tmp_path / "receipt.json"
    path.write_bytes(msgspec.json.encode(receipt))
    assert services.notary is not None
    checked = run_verifier("receipt", str(path), "--key", services.notary.verifier.text())
    assert checked.returncode == 0, checked.stdout
    assert "OK: 1 events in the signed tree" in checked.stdout

    document = json.loads(path.read_text())
    document["events"][0]["event"]["payload"]["points_earned"] = 10
    path.write_text(json.dumps(document))
    forged = run_verifier("receipt", str(path), "--key", services.notary.verifier.text())
    assert forged.returncode == 1
    assert "does not hash to the event's chain hash" in forged.stdout


def test_only_admins_auditors_and_the_holder_get_a_receipt(services: Services, cast: Cast) -> None:
    done = services.ledger.assess(cast.instructor, cast.license_id, "passing", 5, 10)
    services.projector.catch_up()
    for actor in (cast.admin, cast.auditor, cast.student):
        assert services.assessments.receipt(actor, done.assessment_id).events
    stranger = seed_cast(services).student
    for actor in (cast.instructor, stranger):
        with pytest.raises(NotPermitted):
            services.assessments.receipt(actor, done.assessment_id)
    assert stranger.role is Role.STUDENT


def test_the_notary_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint(
    services: Services, cast: Cast
) -> None:
    record(services, cast, 3)
    services.tree.catch_up()
    assert services.notary is not None
    services.notary.sign()
    with services.db.transaction() as cursor:  # an intruder rewrites the first leaf's hash
        cursor.execute(f"UPDATE {NODES} SET hash = %s WHERE level = 0 AND idx = 0", (b"x" * 32,))
    record(services, cast, 1, start=5)
    services.tree.catch_up()
    with pytest.raises(CheckpointRefused, match="no longer hash to the root this key signed"):
        services.notary.sign()


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DOCS / "verify_receipt.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )

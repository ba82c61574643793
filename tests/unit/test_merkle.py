"""The RFC 9162 tree against an implementation nobody here wrote (pymerkle), RFC 9162's own
examples, and the stored-node scheme the database keeps (levels 0, 4, 8, …)."""

from __future__ import annotations

import hashlib
import os
import random

import pytest
from pymerkle import InmemoryTree
from pymerkle import verify_consistency as pymerkle_consistency

from skill_ledger.audit.leaves import Leaf, TreeBuilder, canonical_leaf, perfect_root
from skill_ledger.audit.tree import _stored_keys
from skill_ledger.domain.merkle import (
    EMPTY_ROOT,
    ProofInvalid,
    RootBuilder,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    leaf_text,
    root_of,
    subtrees,
    verify_consistency,
    verify_inclusion,
)

RNG = random.Random(9162)


class StoredTree:
    """What log_tree_nodes holds for a list of leaves, and proofs computed from it alone."""

    def __init__(self, leaves: list[bytes], chunks: int = 1) -> None:
        builder, self.nodes = TreeBuilder(), {}
        cuts = sorted(RNG.sample(range(1, len(leaves)), min(chunks - 1, len(leaves) - 1)))
        for lo, hi in zip([0, *cuts], [*cuts, len(leaves)], strict=True):
            for node in builder.append(Leaf(i + 1, h) for i, h in enumerate(leaves[lo:hi], lo)):
                self.nodes[(node.level, node.idx)] = node.hash

    def hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        def subtree(s: tuple[int, int]) -> bytes:
            return perfect_root([self.nodes[key] for key in _stored_keys(s)])

        return [fold([subtree(s) for s in subtrees(lo, hi)]) for lo, hi in ranges]


def random_log(size: int) -> tuple[list[bytes], InmemoryTree]:
    entries = [os.urandom(RNG.randint(1, 40)) for _ in range(size)]
    tree = InmemoryTree(algorithm="sha256")
    tree.append_entries(entries)
    return [leaf_hash(entry) for entry in entries], tree


@pytest.mark.parametrize("size", range(1, 301))
def test_roots_and_proofs_agree_with_pymerkle_on_a_random_log(size: int) -> None:
    leaves, theirs = random_log(size)
    ours = StoredTree(leaves, chunks=RNG.randint(1, 5))
    checked = {1, size, RNG.randint(1, size), RNG.randint(1, size)}
    for n in sorted(checked | ({*range(1, size + 1)} if size <= 40 else set())):
        root = ours.hashes([(0, n)])[0]
        assert root == theirs.get_root(n) == root_of(leaves[:n])
        for index in {0, n - 1, RNG.randrange(n)}:
            path = ours.hashes(inclusion_ranges(index, n))
            assert path == theirs.prove_inclusion(index + 1, n).path[1:]
            verify_inclusion(index, n, leaves[index], path, root)
        for old in {1, n, RNG.randint(1, n)}:
            path = ours.hashes(consistency_ranges(old, n))
            old_root = theirs.get_root(old)
            verify_consistency(old, n, old_root, root, path)
            pymerkle_consistency(old_root, root, theirs.prove_consistency(old, n))
            assert path == [theirs._get_root(lo, hi) for lo, hi in consistency_ranges(old, n)]


@pytest.mark.parametrize("size", [1024, 4097, 20_000])
def test_large_logs_agree_with_pymerkle(size: int) -> None:
    leaves, theirs = random_log(size)
    ours = StoredTree(leaves, chunks=7)
    for n in (size, size - 1, RNG.randint(2, size)):
        root = ours.hashes([(0, n)])[0]
        assert root == theirs.get_root(n)
        for index in (0, n - 1, RNG.randrange(n)):
            path = ours.hashes(inclusion_ranges(index, n))
            assert path == theirs.prove_inclusion(index + 1, n).path[1:]
        for old in (1, RNG.randint(1, n), n - 1 or 1):
            verify_consistency(
                old, n, theirs.get_root(old), root, ours.hashes(consistency_ranges(old, n))
            )


def test_proof_shapes_are_rfc_9162s_examples() -> None:
    # RFC 9162 §2.1.5: seven leaves a..f, d6; g=[0:2] h=[2:4] i=[4:6] j=[6:7] k=[0:4] l=[4:7].
    assert inclusion_ranges(0, 7) == [(1, 2), (2, 4), (4, 7)]  # [b, h, l]
    assert inclusion_ranges(3, 7) == [(2, 3), (0, 2), (4, 7)]  # [c, g, l]
    assert inclusion_ranges(4, 7) == [(5, 6), (6, 7), (0, 4)]  # [f, j, k]
    assert inclusion_ranges(6, 7) == [(4, 6), (0, 4)]  # [i, k]
    assert consistency_ranges(3, 7) == [(2, 3), (3, 4), (0, 2), (4, 7)]  # [c, d, g, l]
    assert consistency_ranges(4, 7) == [(4, 7)]  # [l]
    assert consistency_ranges(6, 7) == [(4, 6), (6, 7), (0, 4)]  # [i, j, k]


def test_the_empty_tree_and_one_leaf() -> None:
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert root_of([b"x" * 32]) == b"x" * 32
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


def test_tampered_proofs_are_refused() -> None:
    leaves, _ = random_log(23)
    root = root_of(leaves)
    ours = StoredTree(leaves)
    path = ours.hashes(inclusion_ranges(9, 23))
    verify_inclusion(9, 23, leaves[9], path, root)
    bad = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
    for index, size, leaf, proof in [
        (9, 23, leaves[9], bad),
        (10, 23, leaves[9], path),
        (9, 15, leaves[9], path),
        (9, 23, leaves[8], path),
        (9, 23, leaves[9], path[:-1]),
        (9, 23, leaves[9], [*path, path[0]]),
        (23, 23, leaves[9], path),
    ]:
        with pytest.raises(ProofInvalid):
            verify_inclusion(index, size, leaf, proof, root)
    step = ours.hashes(consistency_ranges(7, 23))
    verify_consistency(7, 23, root_of(leaves[:7]), root, step)
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 23, root_of(leaves[:6]), root, step)
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 23, root_of(leaves[:7]), root, step[1:])
    with pytest.raises(ProofInvalid):
        verify_consistency(7, 7, root_of(leaves[:7]), root, [])


def test_the_root_builder_follows_a_growing_log() -> None:
    leaves, _ = random_log(70)
    builder = RootBuilder()
    for n, leaf in enumerate(leaves, 1):
        builder.push(leaf)
        assert builder.root() == root_of(leaves[:n])


def test_a_leaf_is_the_canonical_json_of_docs_audit_worked_example() -> None:
    text = leaf_text(
        1,
        "2e418b3b-1b52-5520-9695-036feb59b776",
        1,
        "Assessed",
        "9ae0f54e0be09f4347054362dca1b2e04acd2705e830b0d9079bad751816718b",
    )
    assert text == (
        '{"hash":"9ae0f54e0be09f4347054362dca1b2e04acd2705e830b0d9079bad751816718b",'
        '"position":1,"stream":"2e418b3b-1b52-5520-9695-036feb59b776","type":"Assessed",'
        '"version":1}'
    )
    assert leaf_hash(text.encode()).hex() == (
        "8186da710d607215796593318387ee332026074fbbb142e2f14760e6efd7ba47"
    )


@pytest.mark.parametrize(
    ("stream", "kind", "chain"),
    [
        ("2e418b3b-1b52-5520-9695-036feb59b776", "Assessed", "ab" * 32),
        ('not-a-uuid"quoted"', "Odd\\Type", None),
        ("2e418b3b", "Tab\tbed", "ünïcode \u2028 \x7f"),
    ],
)
def test_the_fast_leaf_encoding_equals_the_canonical_one(
    stream: str, kind: str, chain: str | None
) -> None:
    assert (
        canonical_leaf(7, stream, 3, kind, chain) == leaf_text(7, stream, 3, kind, chain).encode()
    )


@pytest.mark.parametrize("first", [0, 1, 15, 16, 17, 255, 256, 257, 4095, 4096, 4100])
def test_a_builder_resumed_from_stored_nodes_continues_the_same_tree(first: int) -> None:
    leaves, _ = random_log(first + 300)
    whole = StoredTree(leaves).nodes
    pending = {
        level: [whole[(level, i)] for i in range(lo, hi + 1)]
        for level, lo, hi in TreeBuilder.pending_keys(first)
    }
    resumed = TreeBuilder(first, pending)
    rows = resumed.append(Leaf(i + 1, h) for i, h in enumerate(leaves[first:], first))
    assert {(n.level, n.idx): n.hash for n in rows} == {
        key: digest for key, digest in whole.items() if key[1] >= (first >> key[0])
    }

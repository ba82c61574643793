"""RFC 9162 §2.1 Merkle tree: hashes, proof shapes and proof verification, pure and stdlib only.

Leaves are numbered from 0. A *range* (lo, hi) stands for MTH(D[lo:hi]); every range a proof
needs starts at a multiple of a power of two at least as large as the range, so it is made of
complete subtrees (`subtrees`) that storage can keep. Proof functions name the ranges; the
caller supplies their hashes. The verification functions are RFC 9162 §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
Subtree = tuple[int, int]
"""(level, index): the complete subtree over leaves [index * 2**level, (index + 1) * 2**level)."""


class ProofInvalid(ValueError):
    """A proof does not lead from what it proves to the root it claims."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(size: int) -> int:
    """The largest power of two strictly below `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def leaf_text(position: int, stream: str, version: int, event_type: str, chain: str | None) -> str:
    """The canonical leaf of one event (docs/audit.md §10): RFC 8785 JSON, keys sorted."""
    return json.dumps(
        {
            "hash": chain,
            "position": position,
            "stream": stream,
            "type": event_type,
            "version": version,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of leaf hashes, by definition (for tests and small trees)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


def subtrees(lo: int, hi: int) -> list[Subtree]:
    """The complete subtrees that make up range [lo, hi), left to right (largest first)."""
    found: list[Subtree] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        found.append((level, lo >> level))
        lo += 1 << level
    return found


def fold(hashes: Sequence[bytes]) -> bytes:
    """The MTH of a range from its complete subtrees' hashes (left to right): a right fold."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes form the inclusion proof of leaf `index` in a tree of `size`.

    RFC 9162 §2.1.3.1, bottom-up (the order the proof lists them in).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(old: int, new: int) -> list[Range]:
    """The ranges whose hashes prove the tree of `old` a prefix of `new` (RFC 9162 §2.1.4.1)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    path: list[Range] = []
    lo, hi, whole = 0, new, True
    m = old
    while m != hi - lo:
        k = split(hi - lo)
        if m <= k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        path.append((lo, hi))
    path.reverse()
    return path


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); ProofInvalid if malformed."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofInvalid("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("the proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """ProofInvalid unless `proof` shows leaf `index` in the tree of `size` with `root`."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofInvalid(f"leaf {index} does not lead to the root of the tree of {size}")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """ProofInvalid unless `proof` shows the tree of `old` is a prefix of the tree of `new`."""
    if not 0 <= old <= new:
        raise ProofInvalid(f"no consistency from {old} to {new}")
    if old == new:
        if proof or old_root != new_root:
            raise ProofInvalid("equal sizes need an empty proof and equal roots")
        return
    if old == 0:
        if proof:
            raise ProofInvalid("the empty tree needs an empty proof")
        return
    fr, sr, sn = _consistency_roots(old, new, old_root, list(proof))
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofInvalid(f"the tree of {old} is not a prefix of the tree of {new}")


def _consistency_roots(
    old: int, new: int, old_root: bytes, path: list[bytes]
) -> tuple[bytes, bytes, int]:
    """RFC 9162 §2.1.4.2 steps 2-6: the two roots the path leads to, and what is left of sn."""
    if old & (old - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    if not path:
        raise ProofInvalid("the proof is empty")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr, sr, sn


def resolve(ranges: Sequence[Range], subtree_hash: Callable[[Subtree], bytes]) -> list[bytes]:
    """Hashes of ranges from the hashes of their complete subtrees."""
    return [fold([subtree_hash(s) for s in subtrees(lo, hi)]) for lo, hi in ranges]


class RootBuilder:
    """The root of a growing list of leaf hashes in O(log n) memory (a compact range)."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []

    def push(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        level, digest = 0, leaf
        stack = self._stack
        while stack and stack[-1][0] == level:
            digest = node_hash(stack.pop()[1], digest)
            level += 1
        stack.append((level, digest))
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves pushed so far."""
        return fold([digest for _, digest in self._stack]) if self._stack else EMPTY_ROOT

"""The log's Merkle tree (RFC 9162), kept like a projection in log_tree_nodes.

Every event of the log, in position order, is a leaf. The table holds each leaf (with its
position) and the root of every complete subtree at levels 4, 8, 12, … — about 1.07 rows per
event and no event content — so any root or proof needs one indexed query of at most a few
hundred 32-byte hashes. Appending is incremental, in the same transaction as the tree's own
tracking row (`projection_tracking`, name `log_tree`); `rebuild` recomputes it from zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from skill_ledger.audit.leaves import (
    BLOCK,
    STRIDE,
    Leaf,
    TreeBuilder,
    digest_query,
    leaves_of,
    perfect_root,
)
from skill_ledger.audit.trail import InvalidQuery
from skill_ledger.database import Cursor, Database
from skill_ledger.domain import NotFound
from skill_ledger.domain.merkle import (
    EMPTY_ROOT,
    Range,
    Subtree,
    consistency_ranges,
    fold,
    inclusion_ranges,
    subtrees,
)
from skill_ledger.eventstore.log import EventLog
from skill_ledger.readside.tracking import Tracking

NODES = "log_tree_nodes"
NODE_COLUMNS = ("level", "idx", "position", "hash")
INSERT = f"INSERT INTO {NODES} (level, idx, position, hash) VALUES (%s, %s, %s, %s)"
TREE_NAME = "log_tree"
TREE_CHANNEL = "ledger_tree"
CATCH_UP_BATCH = 5_000
REBUILD_BATCH = 20_000
ProgressCallback = Callable[[int, int], None]


class TreeSizeInvalid(InvalidQuery):
    """A tree size or leaf range the tree does not have (yet)."""


class PositionNotInTree(NotFound):
    """No leaf of the tree (of the asked size) holds the event at this position."""

    def __init__(self, position: int, size: int) -> None:
        super().__init__(f"No event at position {position} is a leaf of the tree of size {size}")
        self.position = position
        self.size = size


@dataclass(frozen=True, slots=True)
class TreeStats:
    """What a rebuild or a catch-up did."""

    leaves: int
    size: int
    position: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.leaves / self.seconds if self.seconds > 0 else float(self.leaves)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf `index` (the event at `position`) in the tree of `size`, with the path to `root`."""

    position: int
    index: int
    size: int
    leaf: bytes
    path: list[bytes]
    root: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of `old` leaves is a prefix of the tree of `new` leaves."""

    old: int
    new: int
    old_root: bytes
    new_root: bytes
    path: list[bytes]


def _runs(keys: Iterable[tuple[int, int]], gap: int = BLOCK) -> list[tuple[int, int, int]]:
    """(level, first, last) spans covering `keys`, neighbours within `gap` merged."""
    spans: list[tuple[int, int, int]] = []
    for level, index in sorted(set(keys)):
        if spans and spans[-1][0] == level and index - spans[-1][2] <= gap:
            spans[-1] = (level, spans[-1][1], index)
        else:
            spans.append((level, index, index))
    return spans


def _span_sql(spans: Sequence[tuple[int, int, int]]) -> tuple[str, list[int]]:
    clause = " OR ".join(["(level = %s AND idx BETWEEN %s AND %s)"] * len(spans))
    return clause, [value for span in spans for value in span]


class LogTree:
    """Reads and appends the tree; every method takes a cursor or opens its own transaction."""

    def __init__(self, db: Database, eventlog: EventLog) -> None:
        self.db = db
        self.eventlog = eventlog
        self.tracking = Tracking(db, TREE_NAME, channel=TREE_CHANNEL)

    # -- where it stands ---------------------------------------------------------------------

    def size(self, cursor: Cursor) -> int:
        """How many leaves the tree holds."""
        cursor.execute(f"SELECT MAX(idx) FROM {NODES} WHERE level = 0")
        row = cursor.fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def state(self) -> tuple[int, int, int]:
        """(tree size, tracked position, head of the log), in one snapshot."""
        with self.db.snapshot() as cursor:
            return (
                self.size(cursor),
                self.tracking.read(cursor),
                self.eventlog.max_position(cursor),
            )

    # -- appending -------------------------------------------------------------------------

    def catch_up(self, batch: int = CATCH_UP_BATCH, upto: int | None = None) -> int:
        """Append the log's new events (to `upto`, or the head), one transaction per batch."""
        with self.db.transaction(write=False) as cursor:  # idle: no write lock taken
            position = self.tracking.read(cursor)
            if position >= (upto if upto is not None else self.eventlog.max_position(cursor)):
                return 0
        total = 0
        while True:
            count = self._append_batch(batch, upto)
            total += count
            if count < batch:
                return total

    def _append_batch(self, batch: int, upto: int | None) -> int:
        with self.db.transaction() as cursor:
            position = self.tracking.lock(cursor)
            if upto is not None and position >= upto:
                return 0
            logged = self.eventlog.read(cursor, position, batch, upto)
            if not logged:
                return 0
            size = self.size(cursor)
            builder = TreeBuilder(size, self._pending(cursor, size))
            mapper = self.eventlog.mapper
            rows = builder.append(leaves_of(logged, mapper))
            cursor.executemany(INSERT, rows)
            self.tracking.advance(cursor, position, logged[-1].position)
        return len(logged)

    def _pending(self, cursor: Cursor, size: int) -> dict[int, list[bytes]]:
        spans = TreeBuilder.pending_keys(size)
        if not spans:
            return {}
        clause, params = _span_sql(spans)
        cursor.execute(f"SELECT level, idx, hash FROM {NODES} WHERE {clause}", params)
        found: dict[int, dict[int, bytes]] = {}
        for level, index, digest in cursor.fetchall():
            found.setdefault(int(level), {})[int(index)] = bytes(digest)
        pending: dict[int, list[bytes]] = {}
        for level, first, last in spans:
            nodes = found.get(level, {})
            missing = [i for i in range(first, last + 1) if i not in nodes]
            if missing:
                raise TreeCorrupt(f"{NODES} lacks level {level} nodes {missing[:5]}: rebuild it")
            pending[level] = [nodes[i] for i in range(first, last + 1)]
        return pending

    def rebuild(
        self, on_progress: ProgressCallback | None = None, *, server_hashing: bool = True
    ) -> TreeStats:
        """Recompute the whole tree from the first event, in one transaction.

        Where the server can hash, it computes the leaves while this process builds the nodes;
        a log it cannot parse (tampered states) is hashed here instead, from the start.
        """
        query = digest_query(self.db, self.eventlog.mapper) if server_hashing else None
        if query is not None:
            try:
                return self._rebuild(on_progress, query)
            except self.db.statement_errors:
                pass
        return self._rebuild(on_progress, None)

    def _rebuild(self, on_progress: ProgressCallback | None, query: str | None) -> TreeStats:
        """The next batch of leaves is read (in a thread: the driver waits without the GIL)
        while this one's nodes are built, and rows stream out through the bulk writer."""
        started = time.perf_counter()
        builder = TreeBuilder()
        with self.db.transaction() as cursor, ThreadPoolExecutor(1) as prefetch:
            self.tracking.lock(cursor)
            head = self.eventlog.max_position(cursor)
            total = self.eventlog.count(cursor)
            cursor.execute(f"DELETE FROM {NODES}")
            with (
                self.db.bulk_reader(cursor) as reader,
                self.db.bulk_writer(cursor, NODES, NODE_COLUMNS, INSERT) as write,
            ):

                def read(after: int) -> list[Leaf]:
                    return self._leaves(reader, query, after, head)

                leaves = read(0)
                while leaves:
                    last = leaves[-1].position
                    following = (
                        prefetch.submit(read, last)
                        if last < head and reader is not cursor
                        else None
                    )
                    write(builder.append(leaves))
                    if on_progress is not None:
                        on_progress(builder.size, total)
                    if following is not None:
                        leaves = following.result()
                    else:
                        leaves = read(last) if last < head else []
            self.tracking.reset(cursor, head)
        return TreeStats(builder.size, builder.size, head, time.perf_counter() - started)

    def _leaves(self, reader: Cursor, query: str | None, after: int, head: int) -> list[Leaf]:
        """The next batch's leaves: hashed by the server where it can, else here."""
        mapper = self.eventlog.mapper
        if query is None:
            return leaves_of(self.eventlog.read(reader, after, REBUILD_BATCH, head), mapper)
        rows = self.db.fetch_raw(reader, query, [after, head, REBUILD_BATCH])
        leaves = [Leaf(int(position), digest) for position, digest in rows]
        for i, (position, digest) in enumerate(rows):
            if digest is None:
                logged = self.eventlog.read(reader, position - 1, 1, position)
                leaves[i] = leaves_of(logged, mapper)[0]
        return leaves

    # -- roots and proofs --------------------------------------------------------------------

    def hashes(
        self, cursor: Cursor, ranges: Sequence[Range], field: str = "tree_size"
    ) -> list[bytes]:
        """MTH of each range, from the stored nodes (one query).

        TreeSizeInvalid (naming `field`) when a range reaches beyond the tree: the query also
        asks for the last leaf the ranges need, so no separate size check is needed.
        """
        wanted = {s for lo, hi in ranges for s in subtrees(lo, hi)}
        keys = {key for s in wanted for key in _stored_keys(s)}
        top = max((hi for _, hi in ranges), default=0)
        if top:
            keys.add((0, top - 1))
        try:
            stored = self._stored(cursor, keys)
        except TreeCorrupt:
            self._check_size(cursor, top, field)
            raise

        def subtree_hash(subtree: Subtree) -> bytes:
            return perfect_root([stored[key] for key in _stored_keys(subtree)])

        return [fold([subtree_hash(s) for s in subtrees(lo, hi)]) for lo, hi in ranges]

    def _stored(self, cursor: Cursor, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not keys:
            return {}
        clause, params = _span_sql(_runs(keys))
        cursor.execute(f"SELECT level, idx, hash FROM {NODES} WHERE {clause}", params)
        found = {(int(level), int(idx)): bytes(digest) for level, idx, digest in cursor.fetchall()}
        missing = keys - found.keys()
        if missing:
            raise TreeCorrupt(f"{NODES} lacks nodes {sorted(missing)[:5]}: rebuild it")
        return found

    def root(self, cursor: Cursor, size: int) -> bytes:
        """The root of the tree of the first `size` leaves."""
        if size < 0:
            raise TreeSizeInvalid("tree_size", f"must be at least 0, got {size}")
        return self.hashes(cursor, [(0, size)])[0] if size else EMPTY_ROOT

    def leaf_at(self, cursor: Cursor, position: int) -> tuple[int, bytes] | None:
        """(leaf index, leaf hash) of the event at `position`, if the tree holds it."""
        cursor.execute(
            f"SELECT idx, hash FROM {NODES} WHERE level = 0 AND position = %s", (position,)
        )
        row = cursor.fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def leaves(self, cursor: Cursor, first: int, limit: int) -> list[tuple[int, int, bytes]]:
        """(index, position, hash) of up to `limit` leaves from index `first`."""
        cursor.execute(
            f"SELECT idx, position, hash FROM {NODES} WHERE level = 0 AND idx >= %s "
            "ORDER BY idx LIMIT %s",
            (first, limit),
        )
        return [(int(i), int(p), bytes(h)) for i, p, h in cursor.fetchall()]

    def inclusion(self, cursor: Cursor, position: int, size: int) -> InclusionProof:
        """The proof that the event at `position` is a leaf of the tree of `size`."""
        if size < 1:
            raise TreeSizeInvalid("tree_size", f"must be at least 1, got {size}")
        found = self.leaf_at(cursor, position)
        if found is None or found[0] >= size:
            raise PositionNotInTree(position, size)
        index, leaf = found
        ranges = inclusion_ranges(index, size)
        *path, root = self.hashes(cursor, [*ranges, (0, size)])
        return InclusionProof(position, index, size, leaf, path, root)

    def consistency(self, cursor: Cursor, old: int, new: int) -> ConsistencyProof:
        """The proof that the tree of `old` leaves is a prefix of the tree of `new`."""
        if new < 1:
            raise TreeSizeInvalid("to", f"must be at least 1, got {new}")
        if not 1 <= old <= new:
            raise TreeSizeInvalid("from", f"must be between 1 and to ({new}), got {old}")
        *path, old_root, new_root = self.hashes(
            cursor, [*consistency_ranges(old, new), (0, old), (0, new)], "to"
        )
        return ConsistencyProof(old, new, old_root, new_root, path)

    def _check_size(self, cursor: Cursor, size: int, field: str) -> None:
        have = self.size(cursor)
        if size > have:
            raise TreeSizeInvalid(field, f"{size} is beyond the tree, which has {have} leaves")


class TreeCorrupt(Exception):
    """The tree table lacks nodes it must hold: it was edited; `ledger audit tree rebuild`."""


def _stored_keys(subtree: Subtree) -> list[tuple[int, int]]:
    """The stored nodes (levels multiple of STRIDE) a complete subtree's root is computed from."""
    level, index = subtree
    below = level % STRIDE
    base = level - below
    first = index << below
    return [(base, i) for i in range(first, first + (1 << below))]

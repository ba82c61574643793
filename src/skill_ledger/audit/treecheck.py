"""Verify's tree checks: the log's leaves against the stored tree, and against a signed checkpoint.

The stored tree recorded each leaf when its event committed; the log is re-read now. The first
index where they differ names the event that was edited, deleted, inserted or moved since. A
signed checkpoint is checked by recomputing the root of its first `size` leaves from the log.
"""

from __future__ import annotations

from skill_ledger.audit.findings import Finding, FindingKind, VerifyReport
from skill_ledger.audit.leaves import Leaf, leaves_of
from skill_ledger.audit.signing import SignedCheckpoint
from skill_ledger.audit.tree import LogTree, TreeCorrupt, TreeSizeInvalid
from skill_ledger.database import Cursor
from skill_ledger.domain.merkle import RootBuilder
from skill_ledger.eventstore.log import LoggedEvent
from skill_ledger.eventstore.transcoder import TypedMapper


class TreeCheck:
    """Folds the log's leaves, in position order, into the comparisons above."""

    def __init__(
        self,
        tree: LogTree,
        cursor: Cursor,
        mapper: TypedMapper,
        signed: SignedCheckpoint | None,
    ) -> None:
        self.tree = tree
        self.cursor = cursor
        self.mapper = mapper
        self.signed = signed
        self.stored_size = tree.size(cursor)
        self.index = 0
        self.builder = RootBuilder()
        self.first: tuple[int, int, int | None] | None = None
        """The first difference: leaf index, the stored leaf's position, the log's there."""
        self.differing = 0

    def visit(self, rows: list[LoggedEvent]) -> None:
        """Compare one batch of the log (in position order) with the stored leaves."""
        leaves = leaves_of(rows, self.mapper)
        if self.index < self.stored_size:
            stored = self.tree.leaves(self.cursor, self.index, len(leaves))
            for (index, position, digest), leaf in zip(stored, leaves, strict=False):
                if digest != leaf.hash or position != leaf.position:
                    self._differs(index, position, leaf.position)
        limit = self.signed.size if self.signed is not None else 0
        for leaf in self._take(leaves, limit - self.index):
            self.builder.push(leaf.hash)
        self.index += len(leaves)

    @staticmethod
    def _take(leaves: list[Leaf], count: int) -> list[Leaf]:
        return leaves[: max(0, count)]

    def _differs(self, index: int, stored: int, logged: int | None) -> None:
        self.differing += 1
        if self.first is None:
            self.first = (index, stored, logged)

    def finish(self, report: VerifyReport) -> None:
        """Report the first difference with the stored tree, then the checkpoint's verdict."""
        report.leaves_compared = min(self.index, self.stored_size)
        if self.stored_size > self.index:
            gone = self.tree.leaves(self.cursor, self.index, 1)
            for index, position, _ in gone:
                self.differing += self.stored_size - self.index - 1
                self._differs(index, position, None)
        if self.first is not None:
            index, stored, logged = self.first
            now = "holds no event there" if logged is None else f"holds position {logged} there"
            report.add(
                Finding(
                    FindingKind.TREE_MISMATCH,
                    f"the tree recorded leaf {index} as the event at position {stored}; the log "
                    f"now {now}, with another leaf ({self.differing} leaves differ)",
                    position=stored,
                )
            )
        if self.signed is not None:
            self._check_signed(report, self.signed)

    def _check_signed(self, report: VerifyReport, signed: SignedCheckpoint) -> None:
        short = self.index < signed.size
        if not short and self.builder.root() == signed.root:
            return
        first = self.first
        named = first is not None and first[0] < signed.size and self._tree_signed()
        if short:
            what = f"the signed checkpoint covers {signed.size} events; the log holds {self.index}"
        else:
            what = (
                f"the log's first {signed.size} events hash to a root other than the signed "
                f"checkpoint's ({signed.root_base64})"
            )
        if named and first is not None:
            where = f"; the first event that differs is at position {first[1]} (leaf {first[0]})"
        else:
            where = (
                "; the tree table no longer holds the signed leaves, so the root alone cannot "
                "name the event: compare with an export or a receipt taken before"
            )
        report.add(
            Finding(
                FindingKind.CHECKPOINT_MISMATCH,
                what + where,
                position=first[1] if named and first is not None else None,
            )
        )

    def _tree_signed(self) -> bool:
        """The stored tree still hashes to the checkpoint's root: its leaves are the signed ones."""
        assert self.signed is not None
        try:
            return self.tree.root(self.cursor, self.signed.size) == self.signed.root
        except (TreeSizeInvalid, TreeCorrupt):
            return False

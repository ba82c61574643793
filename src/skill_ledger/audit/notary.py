"""Signed checkpoints of the tree, kept in log_checkpoints, and the loop that keeps the tree.

A log must never sign a checkpoint inconsistent with one it signed before (C2SP
tlog-checkpoint): before signing, the notary checks that the tree's root at the size of its
last checkpoint is still that checkpoint's root, and refuses otherwise.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import structlog

from skill_ledger.audit.signing import (
    NoteInvalid,
    SignedCheckpoint,
    SigningKey,
    VerifierKey,
    open_checkpoint,
    sign_checkpoint,
)
from skill_ledger.audit.tree import LogTree, TreeCorrupt, TreeSizeInvalid
from skill_ledger.database import Cursor, Database
from skill_ledger.readside.projector import EVENTS_CHANNEL

log = structlog.get_logger("skill_ledger.notary")
TABLE = "log_checkpoints"


class CheckpointRefused(Exception):
    """The tree no longer extends the last checkpoint this key signed: history was rewritten."""


class Notary:
    """Issues checkpoints of the tree signed with the log's key, and keeps them."""

    def __init__(self, db: Database, tree: LogTree, key: SigningKey) -> None:
        self.db = db
        self.tree = tree
        self.key = key
        self.verifier: VerifierKey = key.verifier

    def latest(self, cursor: Cursor) -> SignedCheckpoint | None:
        """The largest checkpoint this key signed (its signature checked), None before the first."""
        cursor.execute(
            f"SELECT note FROM {TABLE} WHERE key_id = %s ORDER BY tree_size DESC LIMIT 1",
            (self.verifier.key_id_hex,),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        try:
            return open_checkpoint(str(row[0]), self.verifier)
        except NoteInvalid as e:
            raise CheckpointRefused(f"the stored checkpoint was altered: {e}") from None

    def sign(self) -> SignedCheckpoint:
        """A checkpoint of the whole tree: the latest one if the tree has not grown since."""
        with self.db.transaction() as cursor:
            size = self.tree.size(cursor)
            last = self.latest(cursor)
            if last is not None and last.size >= size:
                return last
            if last is not None and self._root_or_none(cursor, last.size) != last.root:
                raise CheckpointRefused(
                    f"the tree's first {last.size} leaves no longer hash to the root this key "
                    f"signed ({last.root_base64}): run `ledger audit verify --checkpoint`"
                )
            signed = sign_checkpoint(self.key, size, self.tree.root(cursor, size))
            cursor.execute(
                f"INSERT INTO {TABLE} (key_id, tree_size, root_hash, note, signed_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key_id, tree_size) DO NOTHING",
                (self.verifier.key_id_hex, size, signed.root, signed.note, datetime.now(UTC)),
            )
        log.info("checkpoint_signed", tree_size=size, root=signed.root_base64)
        return signed

    def _root_or_none(self, cursor: Cursor, size: int) -> bytes | None:
        try:
            return self.tree.root(cursor, size)
        except (TreeSizeInvalid, TreeCorrupt):
            return None  # the tree lost leaves it had: not the signed tree either

    def covering(self, size: int) -> SignedCheckpoint:
        """The latest checkpoint if it covers `size` leaves, else a new one of the whole tree."""
        with self.db.transaction(write=False) as cursor:
            last = self.latest(cursor)
        if last is not None and last.size >= size:
            return last
        return self.sign()


class TreeKeeper:
    """Appends new events to the tree as they commit, and signs a checkpoint now and then.

    Any number of processes may run one: appends serialise on the tree's tracking row. Each
    wake-up waits `settle_seconds` first, so a burst of commands costs one transaction.
    """

    def __init__(
        self,
        db: Database,
        tree: LogTree,
        notary: Notary | None,
        *,
        checkpoint_seconds: float,
        poll_seconds: float = 0.25,
        settle_seconds: float = 0.05,
    ) -> None:
        self.db = db
        self.tree = tree
        self.notary = notary
        self.checkpoint_seconds = checkpoint_seconds
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self._next_checkpoint = 0.0

    def step(self) -> int:
        """Catch up, then sign if a checkpoint is due; returns the events appended."""
        appended = self.tree.catch_up()
        if self.notary is not None and time.monotonic() >= self._next_checkpoint:
            self._next_checkpoint = time.monotonic() + self.checkpoint_seconds
            try:
                self.notary.sign()
            except CheckpointRefused as e:
                log.error("checkpoint_refused", error=str(e))
        return appended

    def run(self, stop: threading.Event) -> None:
        """Follow the log until `stop` is set (LISTEN where the backend can, else polling)."""
        failures: tuple[type[Exception], ...] = (
            *self.db.statement_errors,
            *self.db.connection_errors,
            OSError,
        )
        while not stop.is_set():
            try:
                with self.db.session() as session:
                    if session is not None:
                        session.listen(EVENTS_CHANNEL)
                    while not stop.is_set():
                        self.step()
                        wait = max(0.0, min(self.poll_seconds * 4, self._until_checkpoint()))
                        if session is None:
                            stop.wait(min(wait, self.poll_seconds))
                        elif session.notifications(wait):
                            stop.wait(self.settle_seconds)
            except failures as e:
                log.warning("tree_keeper_failed", error=str(e).splitlines()[0], retry_in=1.0)
                stop.wait(1.0)
            except Exception as e:  # the keeper must never die silently
                log.exception("tree_keeper_crashed", error=str(e), retry_in=5.0)
                stop.wait(5.0)

    def _until_checkpoint(self) -> float:
        return self._next_checkpoint - time.monotonic() if self.notary else self.poll_seconds * 4

"""Auditing the ledger: export the log, checkpoint its digest, verify chains and projection.

The algorithm (hash chain per stream, checkpoint digest over the whole log) is specified in
docs/audit.md; everything here works from the raw stored rows, never from snapshots or caches.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Literal

import msgspec

from skill_ledger.audit.accounts import diff_account_tables
from skill_ledger.audit.checkpoint import Checkpoint, digest_step
from skill_ledger.audit.findings import ExportStats, VerifyReport
from skill_ledger.audit.records import EXPORT_COLUMNS, csv_row, record_of
from skill_ledger.audit.signing import SignedCheckpoint
from skill_ledger.audit.snapshots import check_snapshots
from skill_ledger.audit.tree import LogTree
from skill_ledger.audit.treecheck import TreeCheck
from skill_ledger.audit.verify import LogWalk, diff_read_table
from skill_ledger.database import Cursor, Database
from skill_ledger.domain import GENESIS_HASH, format_time
from skill_ledger.eventstore.log import EventLog, LoggedEvent
from skill_ledger.readside.projector import PROJECTION_NAME
from skill_ledger.readside.tracking import Tracking

READ_BATCH = 10_000
ExportFormat = Literal["jsonl", "csv"]
ProgressCallback = Callable[[int, int], None]


class Audit:
    """Export, checkpoint and verify, each in one consistent read-only snapshot of the database."""

    def __init__(
        self,
        db: Database,
        eventlog: EventLog,
        *,
        batch_size: int = READ_BATCH,
        projection: str = PROJECTION_NAME,
    ) -> None:
        self.db = db
        self.eventlog = eventlog
        self.batch_size = batch_size
        self.tracking = Tracking(db, projection)
        self.tree = LogTree(db, eventlog)

    def batches(self, cursor: Cursor, upto: int, after: int = 0) -> Iterator[list[LoggedEvent]]:
        """The raw log in position order, `batch_size` rows per query, up to `upto`."""
        while after < upto:
            rows = self.eventlog.read(cursor, after, self.batch_size, upto)
            if not rows:
                return
            yield rows
            after = rows[-1].position

    # -- export ---------------------------------------------------------------------------

    def export(
        self,
        out: IO[bytes],
        fmt: ExportFormat = "jsonl",
        on_progress: ProgressCallback | None = None,
    ) -> ExportStats:
        """Write every event in position order as JSON lines or CSV, in constant memory."""
        started = time.perf_counter()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="") if fmt == "csv" else None
        writer = csv.writer(text) if text is not None else None
        if writer is not None:
            writer.writerow(EXPORT_COLUMNS)
        encoder = msgspec.json.Encoder()  # an EventRecord encodes as one export object
        done = position = 0
        try:
            with self.db.snapshot() as cursor:
                head = self.eventlog.max_position(cursor)
                total = self.eventlog.count(cursor)
                for rows in self.batches(cursor, head):
                    records = [record_of(row, self.eventlog.mapper) for row in rows]
                    if writer is None:
                        out.write(encoder.encode_lines(records))
                    else:
                        writer.writerows(map(csv_row, records))
                    done += len(records)
                    position = records[-1].position
                    if on_progress is not None:
                        on_progress(done, total)
        finally:
            if text is not None:
                text.flush()
                text.detach()
        return ExportStats(done, position, time.perf_counter() - started)

    # -- checkpoint -----------------------------------------------------------------------

    def checkpoint(self, on_progress: ProgressCallback | None = None) -> Checkpoint:
        """The digest of every event up to the log's head."""
        digest, events, last = GENESIS_HASH, 0, None
        with self.db.snapshot() as cursor:
            head = self.eventlog.max_position(cursor)
            total = self.eventlog.count(cursor)
            for rows in self.batches(cursor, head):
                for row in rows:
                    last = record_of(row, self.eventlog.mapper)
                    digest = digest_step(digest, last.position, last.hash or "")
                events += len(rows)
                if on_progress is not None:
                    on_progress(events, total)
        return Checkpoint(
            position=last.position if last else 0,
            events=events,
            digest=digest,
            time=format_time(datetime.now(UTC)),
            last_stream=last.stream if last else None,
            last_version=last.version if last else None,
            last_hash=last.hash if last else None,
        )

    # -- verify ---------------------------------------------------------------------------

    def verify(
        self,
        checkpoint: Checkpoint | None = None,
        on_progress: ProgressCallback | None = None,
        signed: SignedCheckpoint | None = None,
    ) -> VerifyReport:
        """Check every chain, the checkpoints, the tree, snapshots, read and account tables."""
        started = time.perf_counter()
        report = VerifyReport(checkpoint=checkpoint)
        with self.db.snapshot() as cursor:
            report.head = self.eventlog.max_position(cursor)
            total = self.eventlog.count(cursor)
            report.projected_position = self.tracking.read(cursor)
            walk = LogWalk(report, self.eventlog.mapper, checkpoint, self.eventlog.misspelling)
            leaves = TreeCheck(self.tree, cursor, self.eventlog.mapper, signed)
            for rows in self.batches(cursor, report.head):
                for row in rows:
                    walk.visit(row)
                leaves.visit(rows)
                if on_progress is not None:
                    on_progress(report.events, total)
            walk.finish()
            leaves.finish(report)
            check_snapshots(cursor, self.eventlog, walk)
            diff_read_table(cursor, walk)
            diff_account_tables(cursor, walk.accounts, report)
        report.seconds = time.perf_counter() - started
        return report

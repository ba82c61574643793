"""What verification reports: findings by kind and where, and what the run covered."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from skill_ledger.audit.checkpoint import Checkpoint

MAX_FINDINGS = 10_000


class FindingKind(StrEnum):
    """What verification found wrong."""

    EDITED_PAYLOAD = "edited-payload"
    CHAIN_BREAK = "chain-break"
    DELETED_EVENT = "deleted-event"
    REORDERED = "reordered"
    UNREADABLE_EVENT = "unreadable-event"
    NON_CANONICAL = "non-canonical"
    REPLAY_FAILED = "replay-failed"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"
    TREE_MISMATCH = "tree-mismatch"
    SNAPSHOT_DRIFT = "snapshot-drift"
    READ_TABLE_MISSING_ROW = "read-table-missing-row"
    READ_TABLE_EXTRA_ROW = "read-table-extra-row"
    READ_TABLE_DIFFERING_ROW = "read-table-differing-row"
    ACCOUNT_TABLE_MISSING_ROW = "account-table-missing-row"
    ACCOUNT_TABLE_EXTRA_ROW = "account-table-extra-row"
    ACCOUNT_TABLE_DIFFERING_ROW = "account-table-differing-row"


@dataclass(frozen=True, slots=True)
class Finding:
    """One precise discrepancy: its kind, where it is, and what was expected."""

    kind: FindingKind
    detail: str
    stream: str | None = None
    version: int | None = None
    position: int | None = None
    assessment_id: str | None = None
    column: str | None = None
    table: str | None = None
    row: str | None = None

    def __str__(self) -> str:
        where = [
            f"{label} {value}"
            for label, value in (
                ("stream", self.stream),
                ("version", self.version),
                ("position", self.position),
                ("assessment", self.assessment_id),
                ("table", self.table),
                ("row", self.row),
                ("column", self.column),
            )
            if value is not None
        ]
        return f"{self.kind.value}: {' '.join(where)}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {
            "kind": self.kind.value,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "assessment_id": self.assessment_id,
            "table": self.table,
            "row": self.row,
            "column": self.column,
            "detail": self.detail,
        }


@dataclass(slots=True)
class VerifyReport:
    """What verification covered and what it found."""

    events: int = 0
    streams: int = 0
    head: int = 0
    projected_position: int = 0
    rows_compared: int = 0
    account_rows_compared: int = 0
    snapshots_checked: int = 0
    leaves_compared: int = 0
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    findings_dropped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)

    def add(self, finding: Finding) -> None:
        """Keep a finding (at most MAX_FINDINGS; the rest are only counted)."""
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)
        else:
            self.findings_dropped += 1

    def of_kind(self, kind: FindingKind) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind is kind]


@dataclass(frozen=True, slots=True)
class ExportStats:
    """What an export wrote."""

    events: int
    position: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Throughput."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)

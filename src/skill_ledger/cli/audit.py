"""`ledger audit`: export the event log, checkpoint its digest, verify the whole ledger."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from skill_ledger.audit.checkpoint import Checkpoint, CheckpointInvalid
from skill_ledger.cli.common import (
    EXIT_USAGE,
    err,
    fail,
    opened_services,
    output,
    paused_gc,
    progress,
)

EXIT_FINDINGS = 4

app = typer.Typer(
    help="Auditors: export the log, checkpoint its digest, verify chains and projection.",
    no_args_is_help=True,
)


class Format(StrEnum):
    """Export file formats."""

    JSONL = "jsonl"
    CSV = "csv"


@app.command("export")
def export(
    fmt: Annotated[Format, typer.Option("--format", help="jsonl or csv.")] = Format.JSONL,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Every event in position order with its hash chain, streamed in constant memory."""
    with (
        opened_services() as services,
        progress("exporting") as on_progress,
        output(out) as stream,
        paused_gc(),
    ):
        stats = services.audit.export(stream, fmt.value, on_progress)
    err.print(
        f"exported {stats.events} events up to position {stats.position} in "
        f"{stats.seconds:.2f} s ({stats.events_per_second:,.0f} events/s)",
        highlight=False,
    )


@app.command("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """{position, events, digest, time} of the whole log: keep it outside the database."""
    with opened_services() as services, progress("digesting") as on_progress, paused_gc():
        taken = services.audit.checkpoint(on_progress)
    with output(out) as stream:
        stream.write(json.dumps(taken.to_json(), indent=2).encode() + b"\n")
    err.print(
        f"checkpoint at position {taken.position} over {taken.events} events: {taken.digest}",
        highlight=False,
    )


def _read_checkpoint(path: Path) -> Checkpoint:
    try:
        return Checkpoint.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as e:  # CheckpointInvalid and JSONDecodeError are ValueErrors
        reason = e if isinstance(e, CheckpointInvalid) else f"cannot read it: {e}"
        fail(f"checkpoint {path}: {reason}", EXIT_USAGE)


@app.command("verify")
def verify(
    checkpoint_file: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A file written by `ledger audit checkpoint`."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every chain; check the checkpoint, snapshots, read and account tables; exit 4
    on findings."""
    taken = _read_checkpoint(checkpoint_file) if checkpoint_file is not None else None
    with opened_services() as services, progress("verifying") as on_progress, paused_gc():
        report = services.audit.verify(taken, on_progress)
    if as_json:
        document = {
            "ok": report.ok,
            "events": report.events,
            "streams": report.streams,
            "head": report.head,
            "projected_position": report.projected_position,
            "rows_compared": report.rows_compared,
            "account_rows_compared": report.account_rows_compared,
            "snapshots_checked": report.snapshots_checked,
            "checkpoint": taken.to_json() if taken else None,
            "findings": [finding.to_json() for finding in report.findings],
            "findings_dropped": report.findings_dropped,
        }
        print(json.dumps(document, indent=2))
    else:
        for finding in report.findings:
            print(finding)
        if report.findings_dropped:
            print(f"… and {report.findings_dropped} more findings")
    covered = f", checkpoint at position {taken.position}" if taken else ", no checkpoint"
    lag = f" (log head {report.head})" if report.head != report.projected_position else ""
    verdict = "clean" if report.ok else f"{len(report.findings) + report.findings_dropped} findings"
    err.print(
        f"verified {report.events} events in {report.streams} streams, "
        f"{report.rows_compared} read-table rows at position {report.projected_position}{lag}, "
        f"{report.account_rows_compared} account rows, "
        f"{report.snapshots_checked} snapshots{covered}: {verdict} "
        f"({report.seconds:.2f} s, {report.events_per_second:,.0f} events/s)",
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(EXIT_FINDINGS)

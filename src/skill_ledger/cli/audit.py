"""`ledger audit`: export the event log, checkpoint its digest, verify the whole ledger."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from skill_ledger.audit.checkpoint import Checkpoint, CheckpointInvalid
from skill_ledger.audit.notary import CheckpointRefused
from skill_ledger.audit.signing import NoteInvalid, SignedCheckpoint, open_checkpoint
from skill_ledger.cli.common import (
    EXIT_USAGE,
    err,
    fail,
    opened_services,
    output,
    paused_gc,
    progress,
)
from skill_ledger.cli.receipts import read_verifier, warn_if_throwaway
from skill_ledger.services import Services

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
    signed: Annotated[
        bool, typer.Option("--signed", help="A signed C2SP checkpoint of the Merkle tree.")
    ] = False,
) -> None:
    """{position, events, digest, time} of the whole log (or --signed): keep it outside."""
    if signed:
        _signed_checkpoint(out)
        return
    with opened_services() as services, progress("digesting") as on_progress, paused_gc():
        taken = services.audit.checkpoint(on_progress)
    with output(out) as stream:
        stream.write(json.dumps(taken.to_json(), indent=2).encode() + b"\n")
    err.print(
        f"checkpoint at position {taken.position} over {taken.events} events: {taken.digest}",
        highlight=False,
    )


def _signed_checkpoint(out: Path | None) -> None:
    with opened_services() as services:
        if services.notary is None:
            fail("no signing key: set LEDGER_SIGNING_KEY_FILE (`ledger audit keygen`)", EXIT_USAGE)
        warn_if_throwaway(services)
        with paused_gc():
            services.tree.catch_up()
        try:
            taken = services.notary.sign()
        except CheckpointRefused as e:
            fail(str(e), EXIT_FINDINGS)
    with output(out) as stream:
        stream.write(taken.note.encode())
    err.print(f"signed checkpoint of tree size {taken.size}: {taken.root_base64}", highlight=False)


def _read_checkpoint(path: Path) -> Checkpoint | str:
    """A digest checkpoint (JSON), or the text of a signed checkpoint (checked later)."""
    try:
        text = path.read_text(encoding="utf-8")
        if not text.lstrip().startswith("{"):
            return text
        return Checkpoint.from_json(json.loads(text))
    except (OSError, ValueError) as e:  # CheckpointInvalid and JSONDecodeError are ValueErrors
        reason = e if isinstance(e, CheckpointInvalid) else f"cannot read it: {e}"
        fail(f"checkpoint {path}: {reason}", EXIT_USAGE)


def _open_signed(services: Services, text: str, key: str | None, path: Path) -> SignedCheckpoint:
    """The signed checkpoint, its signature checked with --key or the configured key."""
    if key is not None:
        verifier = read_verifier(key)
    elif services.notary is not None and not services.ephemeral_key:
        verifier = services.notary.verifier
    else:
        fail(f"checkpoint {path}: pass --key with the log's verifier key (KEY.pub)", EXIT_USAGE)
    try:
        return open_checkpoint(text, verifier)
    except NoteInvalid as e:
        fail(f"checkpoint {path}: {e}", EXIT_USAGE)


@app.command("verify")
def verify(
    checkpoint_file: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A file of `ledger audit checkpoint [--signed]`."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Verifier key of a signed checkpoint (or KEY.pub)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute chains; check checkpoints, tree, snapshots, read and account tables (exit 4)."""
    loaded = _read_checkpoint(checkpoint_file) if checkpoint_file is not None else None
    taken = loaded if isinstance(loaded, Checkpoint) else None
    with opened_services() as services, progress("verifying") as on_progress, paused_gc():
        signed = None
        if isinstance(loaded, str) and checkpoint_file is not None:
            signed = _open_signed(services, loaded, key, checkpoint_file)
        report = services.audit.verify(taken, on_progress, signed)
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
            "signed_checkpoint": (
                {"origin": signed.origin, "tree_size": signed.size, "root": signed.root_base64}
                if signed
                else None
            ),
            "leaves_compared": report.leaves_compared,
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
    if signed is not None:
        covered = f", signed checkpoint of tree size {signed.size}"
    lag = f" (log head {report.head})" if report.head != report.projected_position else ""
    verdict = "clean" if report.ok else f"{len(report.findings) + report.findings_dropped} findings"
    err.print(
        f"verified {report.events} events in {report.streams} streams, "
        f"{report.rows_compared} read-table rows at position {report.projected_position}{lag}, "
        f"{report.account_rows_compared} account rows, "
        f"{report.snapshots_checked} snapshots, {report.leaves_compared} tree leaves{covered}: "
        f"{verdict} "
        f"({report.seconds:.2f} s, {report.events_per_second:,.0f} events/s)",
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(EXIT_FINDINGS)

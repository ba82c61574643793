"""`ledger audit`: export the event log, checkpoint its digest, verify the whole ledger."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from skill_ledger.audit import Audit, Checkpoint, CheckpointInvalid, ProgressCallback

EXIT_FINDINGS = 4

audit_app = typer.Typer(
    help="Auditors: export the log, checkpoint its digest, verify chains and projection.",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    """Export file formats."""

    JSONL = "jsonl"
    CSV = "csv"


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _auditor() -> Iterator[Audit]:
    """The auditor on the configured database, with the errors every `ledger` command maps."""
    # Imported here, not at the top: cli.py imports this module to register `ledger audit`.
    from skill_ledger.cli import friendly_errors, load_settings, open_services  # noqa: PLC0415

    settings = load_settings()
    with friendly_errors(settings):
        services = open_services(settings)
        try:
            yield Audit(services.db, services.eventlog, projection=services.projector.name)
        finally:
            services.close()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch run.

    A run allocates millions of short-lived, acyclic objects (payload dicts, events, rows) that
    reference counting frees; the collector would only rescan what verify keeps in memory,
    costing about a fifth of verify's time for nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback]:
    """A progress bar on stderr, fed by (done, total) callbacks."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or FILE written whole or not at all (a temporary file renamed)."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = path.with_name(path.name + ".partial")
    try:
        stream = partial.open("wb")
    except OSError as e:
        _fail(f"cannot write {path}: {e.strerror or e}", 2)
    try:
        with stream:
            yield stream
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@audit_app.command("export")
def export(
    fmt: Annotated[Format, typer.Option("--format", help="jsonl or csv.")] = Format.JSONL,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Every event in position order with its hash chain, streamed in constant memory."""
    with (
        _auditor() as audit,
        _progress("exporting") as on_progress,
        _output(out) as stream,
        paused_gc(),
    ):
        stats = audit.export(stream, fmt.value, on_progress)
    err.print(
        f"exported {stats.events} events up to position {stats.position} in "
        f"{stats.seconds:.2f} s ({stats.events_per_second:,.0f} events/s)",
        highlight=False,
    )


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """{position, events, digest, time} of the whole log: keep it outside the database."""
    with _auditor() as audit, _progress("digesting") as on_progress, paused_gc():
        taken = audit.checkpoint(on_progress)
    with _output(out) as stream:
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
        _fail(f"checkpoint {path}: {reason}", 2)


@audit_app.command("verify")
def verify(
    checkpoint_file: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A file written by `ledger audit checkpoint`."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every chain, check the checkpoint, snapshots and read table; exit 4 on findings."""
    taken = _read_checkpoint(checkpoint_file) if checkpoint_file is not None else None
    with _auditor() as audit, _progress("verifying") as on_progress, paused_gc():
        report = audit.verify(taken, on_progress)
    if as_json:
        document = {
            "ok": report.ok,
            "events": report.events,
            "streams": report.streams,
            "head": report.head,
            "projected_position": report.projected_position,
            "rows_compared": report.rows_compared,
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
        f"{report.snapshots_checked} snapshots{covered}: {verdict} "
        f"({report.seconds:.2f} s, {report.events_per_second:,.0f} events/s)",
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(EXIT_FINDINGS)

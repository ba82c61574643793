"""`ledger audit keygen | receipt | tree`: the log's key, receipts and its Merkle tree."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated
from uuid import UUID

import msgspec
import typer

from skill_ledger.audit.signing import KeyInvalid, SigningKey, VerifierKey
from skill_ledger.cli.common import (
    EXIT_USAGE,
    err,
    fail,
    opened_services,
    out,
    output,
    paused_gc,
    progress,
)
from skill_ledger.domain import NotFound
from skill_ledger.services import Services

app = typer.Typer(help="The log's Merkle tree (RFC 9162), kept like a projection.")


def warn_if_throwaway(services: Services) -> None:
    """Say so when checkpoints are signed with a development throwaway key."""
    if services.ephemeral_key:
        err.print(
            "[yellow]No LEDGER_SIGNING_KEY_FILE: signing with a throwaway key (development)[/]"
        )


def keygen(
    out_file: Annotated[Path, typer.Option("--out", help="Private key file (KEY.pub: public).")],
    origin: Annotated[
        str | None,
        typer.Option(help="The log's name in its checkpoints (default: HOSTNAME/skill-ledger)."),
    ] = None,
) -> None:
    """Write a new Ed25519 signing key (mode 0600) and its signed-note verifier key (KEY.pub)."""
    name = origin or f"{socket.getfqdn()}/skill-ledger"
    try:
        key = SigningKey.generate(name)
    except KeyInvalid as e:
        fail(str(e), EXIT_USAGE)
    public = out_file.with_name(out_file.name + ".pub")
    try:
        descriptor = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        fail(f"cannot create {out_file}: {e.strerror or e} (an existing key is never replaced)")
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(key.text() + "\n")
    public.write_text(key.verifier.text() + "\n", encoding="utf-8")
    err.print(f"signing key: {out_file} (keep it secret); verifier key: {public}", highlight=False)
    out.print(key.verifier.text(), highlight=False)


def receipt(
    assessment_id: Annotated[UUID, typer.Argument(help="The assessment's id.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """The assessment's events with inclusion proofs under a signed checkpoint (JSON)."""
    with opened_services() as services:
        warn_if_throwaway(services)
        try:
            document = services.assessments.receipt(None, assessment_id)
        except NotFound as e:
            fail(str(e))
    with output(out_file) as stream:
        stream.write(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")
    err.print(
        f"receipt of {len(document.events)} events under the checkpoint of tree size "
        f"{document.tree_size} (key {document.key_id}); check it with docs/verify_receipt.py",
        highlight=False,
    )


def read_verifier(text: str) -> VerifierKey:
    """A verifier key given as the key itself or as a file holding it."""
    candidate = Path(text)
    if "+" not in text or candidate.is_file():
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as e:
            fail(f"cannot read the key {text}: {e.strerror or e}", EXIT_USAGE)
    try:
        return VerifierKey.parse(text)
    except KeyInvalid as e:
        fail(f"not a verifier key: {e}", EXIT_USAGE)


@app.command("rebuild")
def rebuild() -> None:
    """Recompute the whole tree from the first event, in one transaction, with progress."""
    with opened_services() as services, progress("hashing", transient=False) as bar, paused_gc():
        stats = services.tree.rebuild(bar)
    out.print(
        f"rebuilt the tree of {stats.size} leaves in {stats.seconds:.2f} s "
        f"({stats.events_per_second:,.0f} events/s); position {stats.position}"
    )


@app.command("status")
def status() -> None:
    """The tree's size and position against the log's head, and the latest checkpoint."""
    with opened_services() as services:
        size, position, head = services.tree.state()
        latest = None
        if services.notary is not None:
            with services.db.transaction(write=False) as cursor:
                latest = services.notary.latest(cursor)
    signed = f"latest signed size {latest.size}" if latest else "no checkpoint signed yet"
    out.print(f"tree size {size}  position {position}  head {head}  {signed}")

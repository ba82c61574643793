"""The log's proofs over HTTP: signed checkpoint, public key, inclusion, consistency, receipts."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.security.jwt import Token

from skill_ledger.accounts import User
from skill_ledger.api.auth import actor_of
from skill_ledger.api.guards import allow
from skill_ledger.api.openapi import COMMON, AssessmentId, problems
from skill_ledger.assessments import Assessments, Proofs
from skill_ledger.audit.receipts import Receipt, b64
from skill_ledger.domain import Action

MAX_SIZE = 2**63 - 1
Size = Annotated[int, Parameter(ge=1, le=MAX_SIZE, schema_extra={"maximum": MAX_SIZE})]
OptionalSize = Annotated[
    int | None, Parameter(ge=1, le=MAX_SIZE, required=False, schema_extra={"maximum": MAX_SIZE})
]


class KeyOut(msgspec.Struct):
    """The Ed25519 key that signs checkpoints; `vkey` is the signed-note verifier key."""

    name: str
    key_id: str
    algorithm: str
    public_key: str
    vkey: str


class CheckpointOut(msgspec.Struct):
    """The latest signed checkpoint; `note` is the C2SP tlog-checkpoint text, signature included."""

    origin: str
    tree_size: int
    root_hash: str
    key_id: str
    note: str


class InclusionOut(msgspec.Struct):
    """RFC 9162 inclusion proof of the event at `position` (leaf `leaf_index`)."""

    position: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_proof: list[str]
    root_hash: str


class ConsistencyOut(msgspec.Struct):
    """RFC 9162 consistency proof: the tree of `from` leaves is a prefix of the tree of `to`."""

    from_: int = msgspec.field(name="from")
    to: int = 0
    from_root: str = ""
    to_root: str = ""
    consistency_proof: list[str] = msgspec.field(default_factory=list)


OPTIONS: dict[str, Any] = {"sync_to_thread": True, "tags": ["proofs"]}


@get("/api/v1/log/key", guards=[allow(Action.PROVE)], responses=problems(*COMMON), **OPTIONS)
def log_key(request: Request[User, Token, Any], proofs: NamedDependency[Proofs]) -> KeyOut:
    """The public key and its signed-note key id."""
    key = proofs.key(actor_of(request))
    return KeyOut(key.name, key.key_id_hex, "Ed25519", b64(key.public), key.text())


@get(
    "/api/v1/log/checkpoint",
    guards=[allow(Action.PROVE)],
    summary="The latest signed checkpoint (C2SP tlog-checkpoint, Ed25519 signed note)",
    responses=problems(*COMMON),
    **OPTIONS,
)
def log_checkpoint(
    request: Request[User, Token, Any], proofs: NamedDependency[Proofs]
) -> CheckpointOut:
    """Origin, tree size and root hash, signed; a new one every LEDGER_CHECKPOINT_SECONDS."""
    checkpoint = proofs.checkpoint(actor_of(request))
    key = proofs.key(actor_of(request))
    return CheckpointOut(
        checkpoint.origin, checkpoint.size, checkpoint.root_base64, key.key_id_hex, checkpoint.note
    )


@get(
    "/api/v1/log/inclusion",
    guards=[allow(Action.PROVE)],
    summary="Inclusion proof of the event at ?position=N in the tree of ?tree_size=M",
    responses=problems(400, *COMMON, 404),
    **OPTIONS,
)
def log_inclusion(
    request: Request[User, Token, Any],
    proofs: NamedDependency[Proofs],
    position: Size,
    tree_size: OptionalSize = None,
) -> InclusionOut:
    """tree_size defaults to the latest checkpoint's; 400 beyond the tree, 404 not a leaf of it."""
    proof = proofs.inclusion(actor_of(request), position, tree_size)
    return InclusionOut(
        proof.position,
        proof.index,
        proof.size,
        b64(proof.leaf),
        [b64(h) for h in proof.path],
        b64(proof.root),
    )


@get(
    "/api/v1/log/consistency",
    guards=[allow(Action.PROVE)],
    summary="Consistency proof between the trees of ?from=M1 and ?to=M2 leaves",
    responses=problems(400, *COMMON),
    **OPTIONS,
)
def log_consistency(
    request: Request[User, Token, Any],
    proofs: NamedDependency[Proofs],
    from_: Annotated[
        int, Parameter(query="from", ge=1, le=MAX_SIZE, schema_extra={"maximum": MAX_SIZE})
    ],
    to: OptionalSize = None,
) -> ConsistencyOut:
    """`to` defaults to the latest checkpoint's size; 400 when a size is beyond the tree."""
    proof = proofs.consistency(actor_of(request), from_, to)
    return ConsistencyOut(
        proof.old, proof.new, b64(proof.old_root), b64(proof.new_root), [b64(h) for h in proof.path]
    )


@get(
    "/api/v1/assessments/{assessment_id:uuid}/receipt",
    guards=[allow(Action.RECEIPT)],
    summary="The assessment's events with inclusion proofs under a signed checkpoint",
    responses=problems(*COMMON, 404),
    **OPTIONS,
)
def receipt(
    request: Request[User, Token, Any],
    assessments: NamedDependency[Assessments],
    assessment_id: AssessmentId,
) -> Receipt:
    """Students: only assessments on licenses they hold. Check it with docs/verify_receipt.py."""
    return assessments.receipt(actor_of(request), assessment_id)


LOG_ROUTES = [log_key, log_checkpoint, log_inclusion, log_consistency, receipt]

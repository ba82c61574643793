"""Receipts: an assessment's events, their leaves and inclusion proofs under a signed checkpoint.

Anyone holding a receipt and the log's public key can check it offline with
docs/verify_receipt.py: each event's chain hash from its payload, its leaf from the chain hash,
the leaf's path to the checkpoint's root, and the checkpoint's signature.
"""

from __future__ import annotations

import base64
from uuid import UUID

import msgspec

from skill_ledger.audit.notary import CheckpointRefused, Notary
from skill_ledger.audit.records import EventRecord, record_of
from skill_ledger.audit.signing import SignedCheckpoint
from skill_ledger.audit.tree import InclusionProof, LogTree, PositionNotInTree
from skill_ledger.database import Database
from skill_ledger.domain import Assessment, AssessmentNotFound, record_id
from skill_ledger.eventstore.log import EventLog

RECEIPT_FORMAT = "skill-ledger-receipt/v1"


def b64(value: bytes) -> str:
    """Standard base64, as checkpoints spell hashes."""
    return base64.b64encode(value).decode()


class ReceiptEntry(msgspec.Struct):
    """One event of the assessment, its leaf and the leaf's inclusion proof."""

    event: EventRecord
    leaf_index: int
    leaf_hash: str
    inclusion_proof: list[str]


class Receipt(msgspec.Struct):
    """Proof that the log, as of a signed checkpoint, holds these events of an assessment."""

    format: str
    assessment_id: str
    origin: str
    key: str
    key_id: str
    tree_size: int
    root_hash: str
    checkpoint: str
    events: list[ReceiptEntry]


class Receipts:
    """Builds receipts: the tree caught up, a checkpoint that covers the events, their proofs."""

    def __init__(self, db: Database, eventlog: EventLog, tree: LogTree, notary: Notary) -> None:
        self.db = db
        self.eventlog = eventlog
        self.tree = tree
        self.notary = notary

    def events_of(self, assessment: Assessment) -> list[EventRecord]:
        """The stored events that record this assessment, in version order."""
        stream = record_id(assessment.user_license_id, assessment.skill_name)
        wanted = str(assessment.id)
        with self.db.snapshot() as cursor:
            logged = self.eventlog.read_stream(cursor, stream)
        records = [record_of(raw, self.eventlog.mapper) for raw in logged]
        return [r for r in records if r.payload and r.payload.get("assessment_id") == wanted]

    def receipt(self, assessment: Assessment) -> Receipt:
        """The receipt of an assessment, against a checkpoint that covers all its events."""
        events = self.events_of(assessment)
        if not events:
            raise AssessmentNotFound(assessment.id)
        last = events[-1].position
        self.tree.catch_up(upto=last)
        with self.db.transaction(write=False) as cursor:
            found = self.tree.leaf_at(cursor, last)
        if found is None:
            raise PositionNotInTree(last, 0)
        checkpoint = self.notary.covering(found[0] + 1)
        with self.db.snapshot() as cursor:
            proofs = [self.tree.inclusion(cursor, e.position, checkpoint.size) for e in events]
        if proofs[0].root != checkpoint.root:
            raise CheckpointRefused(
                f"the tree's first {checkpoint.size} leaves no longer hash to the signed root"
            )
        return self._shape(assessment.id, checkpoint, events, proofs)

    def _shape(
        self,
        assessment_id: UUID,
        checkpoint: SignedCheckpoint,
        events: list[EventRecord],
        proofs: list[InclusionProof],
    ) -> Receipt:
        verifier = self.notary.verifier
        return Receipt(
            format=RECEIPT_FORMAT,
            assessment_id=str(assessment_id),
            origin=checkpoint.origin,
            key=verifier.text(),
            key_id=verifier.key_id_hex,
            tree_size=checkpoint.size,
            root_hash=checkpoint.root_base64,
            checkpoint=checkpoint.note,
            events=[
                ReceiptEntry(
                    event=event,
                    leaf_index=proof.index,
                    leaf_hash=b64(proof.leaf),
                    inclusion_proof=[b64(h) for h in proof.path],
                )
                for event, proof in zip(events, proofs, strict=True)
            ],
        )

"""The audit algorithm pinned to the worked example in docs/audit.md: changing it breaks history."""

from __future__ import annotations

import pytest

from skill_ledger.audit.checkpoint import Checkpoint, CheckpointInvalid, digest_step
from skill_ledger.audit.records import EventRecord, event_type
from skill_ledger.domain import GENESIS_HASH, canonical_json, chain_hash, record_id

STREAM = "2e418b3b-1b52-5520-9695-036feb59b776"
PAYLOAD = {
    "license_id": 42,
    "skill_name": "passing",
    "assessment_id": "0b7e4d0c-3f0a-4c61-9d55-6a1f0d7c2e11",
    "points_earned": 7,
    "points_total": 10,
    "notes": "Crisp — left foot",
    "assessed_by": 3,
    "requires_validation": False,
    "replaces": None,
    "actor_role": "instructor",
    "timestamp": "2026-11-25T09:00:00.000000Z",
}
HASH = "9ae0f54e0be09f4347054362dca1b2e04acd2705e830b0d9079bad751816718b"
DIGEST = "a46d4aaa9cd49a5dc5a0a641b49bc6f50a546f30419b47c6ba9a5b0e8224d69b"


def test_the_documented_example_hashes_to_the_documented_value() -> None:
    assert str(record_id(42, "passing")) == STREAM
    assert chain_hash(STREAM, 1, "Assessed", PAYLOAD, GENESIS_HASH) == HASH
    assert digest_step(GENESIS_HASH, 1, HASH) == DIGEST


def test_canonical_json_sorts_keys_without_spaces_and_keeps_utf8() -> None:
    text = canonical_json({"b": [1, None, True], "a": 'é\n\u0001"/'})
    assert text == '{"a":"é\\n\\u0001\\"/","b":[1,null,true]}'.encode()


def test_every_stored_key_but_the_hashes_is_covered_class_version_included() -> None:
    stored = {**PAYLOAD, "prev_hash": GENESIS_HASH, "hash": HASH}
    assert chain_hash(STREAM, 1, "Assessed", stored, GENESIS_HASH) == HASH
    assert chain_hash(STREAM, 1, "Assessed", {**PAYLOAD, "class_version": 2}, GENESIS_HASH) != HASH
    assert chain_hash(STREAM, 2, "Assessed", PAYLOAD, GENESIS_HASH) != HASH
    assert chain_hash(STREAM, 1, "Validated", PAYLOAD, GENESIS_HASH) != HASH
    assert chain_hash(STREAM, 1, "Assessed", PAYLOAD, "1" * 64) != HASH
    assert (
        chain_hash(STREAM, 1, "Assessed", {**PAYLOAD, "originator_id": STREAM}, GENESIS_HASH)
        != HASH
    )


def record(payload: dict[str, object], digest: str = HASH) -> EventRecord:
    return EventRecord(
        1, STREAM, 1, "Assessed", None, 3, "instructor", payload, GENESIS_HASH, digest
    )


def test_a_record_verifies_exactly_when_its_content_hashes_to_its_hash() -> None:
    assert record(PAYLOAD).hash_verifies()
    assert not record({**PAYLOAD, "points_earned": 8}).hash_verifies()
    assert not record(PAYLOAD, digest="0" * 64).hash_verifies()
    # Where msgspec writes other bytes (1e+16 vs 1e16), the canonical encoding decides.
    forged = {**PAYLOAD, "weight": 1e16}
    digest = chain_hash(STREAM, 1, "Assessed", forged, GENESIS_HASH)
    assert record(forged, digest).hash_verifies()


def test_the_event_type_is_the_last_part_of_the_topic() -> None:
    assert event_type("skill_ledger.domain:SkillRecord.Assessed") == "Assessed"
    assert event_type("module:Archived") == "Archived"


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"position": "1", "events": 1, "digest": "0" * 64, "time": "t"},
        {"position": 1, "events": 1, "digest": "abc", "time": "t"},
        {"position": -1, "events": 0, "digest": "0" * 64, "time": "t"},
    ],
)
def test_a_checkpoint_file_must_be_one(document: object) -> None:
    with pytest.raises(CheckpointInvalid):
        Checkpoint.from_json(document)


def test_a_checkpoint_round_trips_through_json() -> None:
    checkpoint = Checkpoint(3, 3, DIGEST, "2026-11-25T09:00:00.000000Z", STREAM, 2, HASH)
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint

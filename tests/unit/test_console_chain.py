"""The audit page's chain marks: each hash recomputed, each link to the event before."""

from __future__ import annotations

from typing import Any

import msgspec

from skill_ledger.audit.records import EventRecord
from skill_ledger.domain import GENESIS_HASH, chain_hash
from skill_ledger.web.audit import chain_steps

STREAM = "8b18768c-76ec-5b83-8b58-9313199e97a5"


def chain(*payloads: dict[str, Any]) -> list[EventRecord]:
    """Records of a well-formed chain carrying these payloads."""
    records, previous = [], GENESIS_HASH
    for version, payload in enumerate(payloads, start=1):
        digest = chain_hash(STREAM, version, "Assessed", payload, previous)
        records.append(
            EventRecord(
                position=version,
                stream=STREAM,
                version=version,
                type="Assessed",
                time=None,
                actor=1,
                role="instructor",
                payload=payload,
                prev_hash=previous,
                hash=digest,
            )
        )
        previous = digest
    return records


def test_an_untouched_chain_is_marked_recomputed_throughout() -> None:
    steps = chain_steps(chain({"points_earned": 5}, {"points_earned": 7}))
    assert [step.ok for step in steps] == [True, True]


def test_an_edited_payload_is_marked_where_its_hash_no_longer_matches() -> None:
    records = chain({"points_earned": 5}, {"points_earned": 7}, {"points_earned": 9})
    records[1] = msgspec.structs.replace(records[1], payload={"points_earned": 10})
    steps = chain_steps(records)
    assert [(step.hash_ok, step.linked) for step in steps] == [
        (True, True),
        (False, True),
        (True, True),
    ]


def test_a_removed_event_breaks_the_link_of_the_next_one() -> None:
    first, _, third = chain({"points_earned": 5}, {"points_earned": 7}, {"points_earned": 9})
    steps = chain_steps([first, third])
    assert [(step.hash_ok, step.linked) for step in steps] == [(True, True), (True, False)]

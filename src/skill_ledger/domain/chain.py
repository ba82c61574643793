"""The hash chain: canonical JSON of an event's stored payload, hashed with its predecessor's."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from skill_ledger.domain.vocabulary import format_time

GENESIS_HASH = "0" * 64
HASH_EXCLUDED = frozenset({"prev_hash", "hash"})
POSITION_FIELDS = ("originator_id", "originator_version")


def plain(value: object) -> object:
    """A field value as the JSON value stored for it."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def event_payload(event: object) -> dict[str, Any]:
    """An event's fields as JSON values, without its stream position: what is stored."""
    return {
        field.name: plain(getattr(event, field.name))
        for field in dataclasses.fields(event)  # type: ignore[arg-type]
        if field.name not in POSITION_FIELDS
    }


def canonical_json(value: object) -> bytes:
    """RFC 8785-compatible encoding of our payloads (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(
    stream_id: str, version: int, event_type: str, payload: dict[str, Any], prev_hash: str
) -> str:
    """SHA-256 of one event in its stream's hash chain (see docs/audit.md)."""
    body = {k: v for k, v in payload.items() if k not in HASH_EXCLUDED}
    document = {
        "payload": body,
        "prev_hash": prev_hash,
        "stream": stream_id,
        "type": event_type,
        "version": version,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()

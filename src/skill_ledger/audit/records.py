"""One stored event as auditors see it: position, stream, type, actor, payload and hash chain."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import MapperDeserialisationError

from skill_ledger.domain import EVENT_CLASSES, chain_hash
from skill_ledger.eventstore.log import LoggedEvent
from skill_ledger.eventstore.transcoder import EVENTS_BY_TOPIC, TypedMapper

EXPORT_COLUMNS = (
    "position",
    "stream",
    "version",
    "type",
    "time",
    "actor",
    "role",
    "payload",
    "prev_hash",
    "hash",
)
ACTOR_FIELDS: dict[str, str] = {cls.__name__: cls.effect.actor for cls in EVENT_CLASSES}
"""The field naming who acted, by event type."""
EVENT_TYPES = {topic: cls.__name__ for topic, cls in EVENTS_BY_TOPIC.items()}

_json = msgspec.json.Decoder()
_sorted_json = msgspec.json.Encoder(order="sorted")


def event_type(topic: str) -> str:
    """The event type: the last part of the stored topic (…:SkillRecord.Assessed → Assessed)."""
    return topic.rpartition(".")[2].rpartition(":")[2]


class EventRecord(msgspec.Struct, frozen=True):
    """One stored event: position, stream, version, type, time, actor, payload and hash chain.

    `payload` is the stored JSON object without `prev_hash` and `hash` (which have their own
    fields); it is None, like the hashes, when the stored state is not a JSON object. Encoded
    with msgspec it is one line of the JSONL export.
    """

    position: int
    stream: str
    version: int
    type: str
    time: str | None
    actor: int | None
    role: str | None
    payload: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None

    @property
    def readable(self) -> bool:
        """The stored state is a JSON object carrying prev_hash and hash."""
        return self.payload is not None and self.prev_hash is not None and self.hash is not None

    def recomputed_hash(self) -> str | None:
        """The hash the stored content implies (None when there is no content to hash)."""
        if self.payload is None or self.prev_hash is None:
            return None
        return chain_hash(self.stream, self.version, self.type, self.payload, self.prev_hash)

    def hash_verifies(self) -> bool:
        """The stored hash is the hash of the stored content.

        msgspec's sorted encoding is tried first (several times faster): when it hashes to the
        stored hash, its bytes are the very bytes hashed when the event was written, so the
        canonical encoding of docs/audit.md agrees. Otherwise the canonical encoding decides.
        """
        if not self.readable:
            return False
        document = {
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "stream": self.stream,
            "type": self.type,
            "version": self.version,
        }
        if hashlib.sha256(_sorted_json.encode(document)).hexdigest() == self.hash:
            return True
        return self.recomputed_hash() == self.hash

    def to_json(self) -> dict[str, Any]:
        """The export's JSON object (keys in EXPORT_COLUMNS order)."""
        return {name: getattr(self, name) for name in EXPORT_COLUMNS}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _actor(event_type_name: str, document: dict[str, Any]) -> int | None:
    fields = (ACTOR_FIELDS[event_type_name],) if event_type_name in ACTOR_FIELDS else ()
    for name in fields or ACTOR_FIELDS.values():
        value = document.get(name)
        if type(value) is int:
            return value
    return None


def record_of(raw: LoggedEvent, mapper: TypedMapper) -> EventRecord:
    """The auditor's view of one raw stored row (tolerates rows that are not valid JSON)."""
    try:
        document = _json.decode(mapper.plain_state(raw.state))
    except msgspec.DecodeError:
        document = None
    kind = EVENT_TYPES.get(raw.topic) or event_type(raw.topic)
    payload = prev_hash = digest = time_ = role = actor = None
    if type(document) is dict:
        prev_hash = _text(document.pop("prev_hash", None))
        digest = _text(document.pop("hash", None))
        payload = document
        time_ = _text(document.get("timestamp"))
        role = _text(document.get("actor_role"))
        actor = _actor(kind, document)
    return EventRecord(
        raw.position,
        _stream_text(raw.stream_id),
        raw.version,
        kind,
        time_,
        actor,
        role,
        payload,
        prev_hash,
        digest,
    )


def _stream_text(stream_id: str) -> str:
    """The stream id hyphenated (SQLite stores 32 hex digits); anything else as it is."""
    if len(stream_id) == 32:
        try:
            return str(UUID(stream_id))
        except ValueError:
            return stream_id
    return stream_id


def decode_event(raw: LoggedEvent, mapper: TypedMapper, record: EventRecord | None = None) -> Any:
    """The typed domain event, or None when the row is not a known, well-formed event.

    Only the ledger's own event topics are resolved: a forged topic never makes the auditor
    import a module. The already parsed payload is converted (upcast first when it is older).
    """
    cls = EVENTS_BY_TOPIC.get(raw.topic)
    if cls is None:
        return None
    record = record or record_of(raw, mapper)
    if record.payload is None or not record.readable:
        return None
    state = dict(record.payload)
    state["prev_hash"] = record.prev_hash
    state["hash"] = record.hash
    try:
        return mapper.event_from(cls, state, UUID(record.stream), raw.version)
    except (MapperDeserialisationError, ValueError):
        return None


def csv_row(record: EventRecord) -> list[Any]:
    """An event as a CSV row (EXPORT_COLUMNS; the payload as compact JSON, keys sorted)."""
    payload = _sorted_json.encode(record.payload).decode() if record.payload is not None else ""
    return [
        record.position,
        record.stream,
        record.version,
        record.type,
        record.time or "",
        "" if record.actor is None else record.actor,
        record.role or "",
        payload,
        record.prev_hash or "",
        record.hash or "",
    ]

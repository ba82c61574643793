"""The hash chain: canonical JSON of an event's stored payload, hashed with its predecessor's.

`ChainedAggregate` is the one place that chains events: every aggregate of the ledger (skill
records, user accounts, licenses) triggers its events through it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate
from eventsourcing.utils import register_topic

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


class ChainedAggregate(Aggregate):
    """An aggregate whose events are hash-chained per stream (docs/audit.md)."""

    last_hash: str

    class Event(Aggregate.Event):
        """Base of chained events: stored topic, declared effect, actor role and the hashes.

        Each aggregate's own base event names the kind of effect its events declare (`EFFECT`);
        an event class without its own `TOPIC` or such an `effect` is refused when defined.
        """

        TOPIC: ClassVar[str]
        EFFECT: ClassVar[type[Any]] = object
        effect: ClassVar[Any]

        actor_role: str
        prev_hash: str
        hash: str

        def __init_subclass__(cls) -> None:
            """Check the declaration and register the stored topic."""
            super().__init_subclass__()
            if issubclass(cls, CanInitAggregate) or "EFFECT" in cls.__dict__:
                return  # the library's unused "Created" events; each aggregate's base event
            if not isinstance(cls.__dict__.get("TOPIC"), str):
                raise TypeError(f"{cls.__qualname__} must declare its stored TOPIC")
            if not isinstance(cls.__dict__.get("effect"), cls.EFFECT):
                raise TypeError(
                    f"{cls.__qualname__} must declare its {cls.EFFECT.__name__} as `effect`"
                )
            register_topic(cls.TOPIC, cls)

        def mutate(self, aggregate: Any) -> Any:
            """Evolve the aggregate, then move its chain tip to this event."""
            evolved = super().mutate(aggregate)
            assert evolved is not None
            evolved.last_hash = self.hash
            return evolved

        def apply(self, aggregate: Any) -> None:
            """The aggregate applies the event's declared effect to its state."""
            aggregate.evolve(self)

    def _trigger(
        self,
        event_class: type[ChainedAggregate.Event],
        actor_role: str,
        *,
        at: datetime | None = None,
        **fields: Any,
    ) -> None:
        """Trigger the next event of the stream, its hash computed over its stored payload."""
        timestamp = at or event_class.create_timestamp()
        payload = {
            **{k: plain(v) for k, v in fields.items()},
            "actor_role": actor_role,
            "timestamp": format_time(timestamp),
        }
        class_version = getattr(event_class, "class_version", 1)
        if class_version > 1:  # stored with the payload (TypedMapper) and chooses upcasters
            payload["class_version"] = class_version
        digest = chain_hash(
            str(self.id), self.version + 1, event_class.__name__, payload, self.last_hash
        )
        self.trigger_event(
            event_class,
            timestamp=timestamp,
            actor_role=actor_role,
            prev_hash=self.last_hash,
            hash=digest,
            **fields,
        )

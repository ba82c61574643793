"""msgspec encoding of stored events: canonical JSON payloads, field types restored on read."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from skill_ledger.domain import event_payload


class MsgspecTranscoder(Transcoder):
    """Encodes event state as JSON with msgspec (several times faster than the stdlib)."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder()

    def encode(self, obj: Any) -> bytes:
        """State dict to JSON bytes."""
        return self._encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        """JSON bytes to a dict of plain JSON values."""
        return self._decoder.decode(data)


@lru_cache(maxsize=256)
def _event_class(topic: str) -> type[Any]:
    return cast(type[Any], resolve_topic(topic))


class TypedMapper(Mapper[UUID]):
    """Stores each event's canonical payload; rebuilds typed events with msgspec.convert."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        """Event to stored record: the payload is exactly what the hash chain covers."""
        state = event_payload(domain_event)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """Stored record to typed event, upcasting older class versions first."""
        cls = _event_class(stored_event.topic)
        try:
            data = stored_event.state
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = self.transcoder.decode(data)
            from_version = state.pop("class_version", 1)
            class_version = getattr(cls, "class_version", 1)
            while from_version < class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
            state["originator_id"] = stored_event.originator_id
            state["originator_version"] = stored_event.originator_version
            return cast(DomainEventProtocol[UUID], msgspec.convert(state, cls))
        except (msgspec.ValidationError, msgspec.DecodeError, KeyError, TypeError) as e:
            msg = (
                f"Cannot decode stored event {stored_event.originator_id!s} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {e}"
            )
            raise MapperDeserialisationError(msg) from e

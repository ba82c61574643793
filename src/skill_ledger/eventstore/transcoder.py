"""The one codec of stored events: msgspec JSON of canonical payloads, typed events out.

Every reader of the store decodes through `TypedMapper`: the application's repository, the
projector, the bulk rebuild (`payload_decoder`) and the auditor (`event_from`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar, cast
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from skill_ledger.domain import EVENT_CLASSES, event_payload

EVENTS_BY_TOPIC: dict[str, type[Any]] = {get_topic(cls): cls for cls in EVENT_CLASSES}
"""The ledger's own event classes by stored topic (the auditor resolves nothing else)."""
_NIL = UUID(int=0)
S = TypeVar("S", bound=msgspec.Struct)


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
    return EVENTS_BY_TOPIC.get(topic) or cast(type[Any], resolve_topic(topic))


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

    def plain_state(self, data: bytes) -> bytes:
        """The stored bytes decrypted and decompressed: the JSON of the payload."""
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        return data

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """Stored record to typed event, upcasting older class versions first."""
        try:
            state = self.transcoder.decode(self.plain_state(stored_event.state))
        except msgspec.DecodeError as e:
            raise self._undecodable(stored_event, e) from e
        try:
            return self.event_from(
                _event_class(stored_event.topic),
                state,
                cast(UUID, stored_event.originator_id),
                stored_event.originator_version,
            )
        except MapperDeserialisationError as e:
            raise self._undecodable(stored_event, e.__cause__ or e) from e

    @staticmethod
    def event_from(
        event_class: type[Any], state: dict[str, Any], originator_id: UUID, originator_version: int
    ) -> DomainEventProtocol[UUID]:
        """A typed event from its decoded payload (consumed), upcast to the class's version."""
        try:
            from_version = state.pop("class_version", 1)
            class_version = getattr(event_class, "class_version", 1)
            while from_version < class_version:
                getattr(event_class, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
            state["originator_id"] = originator_id
            state["originator_version"] = originator_version
            return cast(DomainEventProtocol[UUID], msgspec.convert(state, event_class))
        except (msgspec.ValidationError, KeyError, TypeError, AttributeError) as e:
            # AttributeError: a class_version that names an upcaster that does not exist.
            raise MapperDeserialisationError(str(e)) from e

    def payload_decoder(self, topic: str, payload_type: type[S]) -> Callable[[bytes], S]:
        """Stored bytes to `payload_type` (a Struct of some of the event's fields), fast.

        Plain version-1 payloads decode straight into the Struct; encrypted, compressed or
        older class versions go through the full decode and upcast first.
        """
        cls = _event_class(topic)
        plain = self.cipher is None and self.compressor is None
        if plain and getattr(cls, "class_version", 1) == 1:
            return msgspec.json.Decoder(payload_type).decode
        return lambda state: msgspec.convert(
            event_payload(self.to_domain_event(StoredEvent(_NIL, 0, topic, state))), payload_type
        )

    @staticmethod
    def _undecodable(stored_event: StoredEvent, error: BaseException) -> MapperDeserialisationError:
        return MapperDeserialisationError(
            f"Cannot decode stored event {stored_event.originator_id!s} "
            f"v{stored_event.originator_version} ({stored_event.topic}): {error}"
        )

"""The checkpoint: a digest over the whole log up to a position, kept outside the database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec


class CheckpointInvalid(ValueError):
    """A checkpoint document is not a checkpoint this ledger wrote."""


def digest_step(digest: str, position: int, event_hash: str) -> str:
    """d_n = SHA-256(d_{n-1} ":" position ":" hash_n), hex; d_0 is 64 zeros (docs/audit.md)."""
    return hashlib.sha256(f"{digest}:{position}:{event_hash}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log's digest up to a position, to be kept outside the database."""

    position: int
    events: int
    digest: str
    time: str
    last_stream: str | None = None
    last_version: int | None = None
    last_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The checkpoint file's JSON object."""
        return {
            "position": self.position,
            "events": self.events,
            "digest": self.digest,
            "time": self.time,
            "last_stream": self.last_stream,
            "last_version": self.last_version,
            "last_hash": self.last_hash,
        }

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """Parse a checkpoint file's JSON object; CheckpointInvalid when it is not one."""
        try:
            checkpoint = msgspec.convert(data, cls)
        except msgspec.ValidationError as e:
            raise CheckpointInvalid(f"not a ledger checkpoint: {e}") from None
        if len(checkpoint.digest) != 64 or checkpoint.position < 0 or checkpoint.events < 0:
            raise CheckpointInvalid("not a ledger checkpoint: bad digest, position or events")
        return checkpoint

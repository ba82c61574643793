"""What the application needs from around it: lookups beyond its streams, and an observer."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class Directory(Protocol):
    """What commands need to know beyond their own stream (licenses, history, lookups)."""

    def license_exists(self, license_id: int) -> bool:
        """True when the license exists."""

    def assessments_made_by(self, user_id: int, at_most: int) -> int:
        """How many assessments this user has made so far, counting no further than at_most."""

    def locate(self, assessment_id: UUID) -> tuple[int, str] | None:
        """The (license, skill) pair an assessment belongs to, or None."""

    def license_holder(self, license_id: int) -> int | None:
        """The user id holding the license, None when it does not exist."""


class CommandObserver(Protocol):
    """Told what commands and the projector do (metrics); the ledger works without one."""

    def completed(self, command: str, outcome: str, seconds: float) -> None:
        """A command finished."""

    def conflicted(self, command: str) -> None:
        """A command lost a race and decides again."""

    def rejected(self, command: str, reason: str) -> None:
        """A command was refused with a named error."""

    def committed(self, commands: int) -> None:
        """One event-store transaction carried this many commands."""

    def projected(self, delays: list[float]) -> None:
        """A projector batch committed; each event's delay from its time to that commit."""

    def snapshot_failed(self) -> None:
        """Saving a snapshot failed after its command's events were committed."""

    def projection_failed(self) -> None:
        """A projector batch failed (the projection cannot apply an event)."""

    def read_routed(self, target: str, outcome: str) -> None:
        """A read ran on `target` (a replica, or "primary") for `outcome` (caught_up, lagging…)."""


class NullObserver:
    """Observes nothing."""

    def completed(self, command: str, outcome: str, seconds: float) -> None:
        """Ignore."""

    def conflicted(self, command: str) -> None:
        """Ignore."""

    def rejected(self, command: str, reason: str) -> None:
        """Ignore."""

    def committed(self, commands: int) -> None:
        """Ignore."""

    def projected(self, delays: list[float]) -> None:
        """Ignore."""

    def snapshot_failed(self) -> None:
        """Ignore."""

    def projection_failed(self) -> None:
        """Ignore."""

    def read_routed(self, target: str, outcome: str) -> None:
        """Ignore."""

"""A license as a stream: issued to a student, perhaps transferred; its assessments stay on it."""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from skill_ledger.domain.account import (
    TOPIC_MODULE,
    LicenseRow,
    TableEffect,
    UserRow,
    actor_id,
    actor_role,
)
from skill_ledger.domain.chain import GENESIS_HASH, ChainedAggregate
from skill_ledger.domain.errors import AccountConflict
from skill_ledger.domain.permissions import check_may_manage_accounts
from skill_ledger.domain.vocabulary import MIGRATION, Actor, Role, license_stream_id


class License(ChainedAggregate):
    """One license: issued to a student, perhaps transferred to another; its assessments stay."""

    row: LicenseRow | None

    @classmethod
    def start(cls, license_id: int, *, at: datetime | None = None) -> License:
        """An empty license stream, not yet stored: its first event will be version 1."""
        issued = cls.__new__(cls)
        issued.__base_init__(license_stream_id(license_id), 0, at or cls.Event.create_timestamp())
        issued.row = None
        issued.last_hash = GENESIS_HASH
        return issued

    class Event(ChainedAggregate.Event):
        """Base of a license's events: each names the license and declares its `TableEffect`."""

        EFFECT = TableEffect
        effect: ClassVar[TableEffect]

        license_id: int

    class Issued(Event):
        """The license was created, held by a student."""

        TOPIC = f"{TOPIC_MODULE}:License.Issued"
        effect = TableEffect(
            LicenseRow,
            key="license_id",
            actor="issued_by",
            creates=True,
            columns=MappingProxyType({"id": "license_id", "holder_id": "holder_id"}),
        )

        holder_id: int
        issued_by: int | None

        def mutate(self, aggregate: Any) -> Any:
            """The issue opens the license's stream."""
            if aggregate is None:
                aggregate = License.start(self.license_id, at=self.timestamp)
            return super().mutate(aggregate)

    class Transferred(Event):
        """Another student holds the license now; its assessments stay on it."""

        TOPIC = f"{TOPIC_MODULE}:License.Transferred"
        effect = TableEffect(
            LicenseRow,
            key="license_id",
            actor="transferred_by",
            columns=MappingProxyType({"holder_id": "holder_id"}),
        )

        holder_id: int
        previous_holder_id: int
        transferred_by: int | None

    @classmethod
    def issue(
        cls, license_id: int, holder: UserRow, by: Actor | None, *, at: datetime | None = None
    ) -> License:
        """A new license held by an active student."""
        check_may_manage_accounts(by)
        check_holder(holder)
        issued = cls.start(license_id, at=at)
        issued._trigger(
            cls.Issued,
            actor_role(by),
            at=at,
            license_id=license_id,
            holder_id=holder.id,
            issued_by=actor_id(by),
        )
        return issued

    @classmethod
    def opening(cls, row: LicenseRow, *, at: datetime) -> License:
        """The opening event of a license that predates it, as the migration writes it."""
        issued = cls.start(row.id, at=at)
        issued._trigger(
            cls.Issued, MIGRATION, at=at, license_id=row.id, holder_id=row.holder_id, issued_by=None
        )
        return issued

    def transfer(self, to: UserRow, by: Actor | None) -> bool:
        """Hand the license to another active student; False when they hold it already."""
        check_may_manage_accounts(by)
        license_ = self.license
        if to.id == license_.holder_id:
            return False
        check_holder(to)
        self._trigger(
            self.Transferred,
            actor_role(by),
            license_id=license_.id,
            holder_id=to.id,
            previous_holder_id=license_.holder_id,
            transferred_by=actor_id(by),
        )
        return True

    @property
    def license(self) -> LicenseRow:
        """The license as it stands (a stored license always has its issue)."""
        assert self.row is not None, "a license stream starts with Issued"
        return self.row

    def evolve(self, event: License.Event) -> None:
        """Apply the event's effect to the license's row."""
        self.row = event.effect.apply(self.row, event)


LICENSE_EVENTS: tuple[type[License.Event], ...] = (License.Issued, License.Transferred)
"""Every event of a license, in declaration order."""


def check_holder(holder: UserRow) -> None:
    """Licenses are held by active students."""
    if holder.role is not Role.STUDENT or not holder.active:
        state = "an inactive " if not holder.active else "an "
        raise AccountConflict(
            f"Licenses are held by active students; user {holder.id} is {state}{holder.role.value}"
        )

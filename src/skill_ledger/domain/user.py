"""A user's account as a stream: registered, role changes, deactivations, password resets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from skill_ledger.domain.account import (
    TOPIC_MODULE,
    TableEffect,
    UserRow,
    actor_id,
    actor_role,
    check_email,
    check_name,
)
from skill_ledger.domain.chain import GENESIS_HASH, ChainedAggregate
from skill_ledger.domain.errors import AccountConflict
from skill_ledger.domain.permissions import check_may_manage_accounts, check_not_own_account
from skill_ledger.domain.vocabulary import MIGRATION, Actor, Role, user_stream_id


class UserAccount(ChainedAggregate):
    """One user's account: registered, role changes, deactivations and password resets."""

    row: UserRow | None

    @classmethod
    def start(cls, user_id: int, *, at: datetime | None = None) -> UserAccount:
        """An empty account stream, not yet stored: its first event will be version 1."""
        account = cls.__new__(cls)
        account.__base_init__(user_stream_id(user_id), 0, at or cls.Event.create_timestamp())
        account.row = None
        account.last_hash = GENESIS_HASH
        return account

    class Event(ChainedAggregate.Event):
        """Base of a user's events: each names the user and declares its `TableEffect`."""

        EFFECT = TableEffect
        effect: ClassVar[TableEffect]

        user_id: int

    class Registered(Event):
        """The user was created with an email, a name and a role (active)."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.Registered"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="registered_by",
            creates=True,
            columns=MappingProxyType(
                {"id": "user_id", "email": "email", "name": "name", "role": "role"}
            ),
            values=MappingProxyType({"active": True, "tokens_valid_after": None}),
        )

        email: str
        name: str
        role: Role
        registered_by: int | None

        def mutate(self, aggregate: Any) -> Any:
            """The registration opens the account's stream."""
            if aggregate is None:
                aggregate = UserAccount.start(self.user_id, at=self.timestamp)
            return super().mutate(aggregate)

    class RoleChanged(Event):
        """The user was given another role."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.RoleChanged"
        effect = TableEffect(
            UserRow, key="user_id", actor="changed_by", columns=MappingProxyType({"role": "role"})
        )

        role: Role
        changed_by: int | None

    class Deactivated(Event):
        """The user can no longer log in; every token issued so far stops working for good."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.Deactivated"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="deactivated_by",
            columns=MappingProxyType({"tokens_valid_after": "timestamp"}),
            values=MappingProxyType({"active": False}),
        )

        deactivated_by: int | None

    class Reactivated(Event):
        """A deactivated user may log in again."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.Reactivated"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="reactivated_by",
            values=MappingProxyType({"active": True}),
        )

        reactivated_by: int | None

    class PasswordReset(Event):
        """The user's password was set by someone else (never the hash); older tokens stop."""

        TOPIC = f"{TOPIC_MODULE}:UserAccount.PasswordReset"
        effect = TableEffect(
            UserRow,
            key="user_id",
            actor="reset_by",
            columns=MappingProxyType({"tokens_valid_after": "timestamp"}),
        )

        reset_by: int | None

    # -- commands ---------------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        user_id: int,
        email: str,
        name: str,
        role: Role,
        by: Actor | None,
        *,
        at: datetime | None = None,
    ) -> UserAccount:
        """A new account (admins, or an operator); the email and name are checked first."""
        check_may_manage_accounts(by)
        email, name = check_email(email), check_name(name)
        account = cls.start(user_id, at=at)
        account._trigger(
            cls.Registered,
            actor_role(by),
            at=at,
            user_id=user_id,
            email=email,
            name=name,
            role=role,
            registered_by=actor_id(by),
        )
        return account

    @classmethod
    def opening(cls, row: UserRow, *, at: datetime) -> UserAccount:
        """The opening events of an account that predates them, as the migration writes them."""
        account = cls.start(row.id, at=at)
        account._trigger(
            cls.Registered,
            MIGRATION,
            at=at,
            user_id=row.id,
            email=row.email,
            name=row.name,
            role=row.role,
            registered_by=None,
        )
        if not row.active:
            account._trigger(cls.Deactivated, MIGRATION, at=at, user_id=row.id, deactivated_by=None)
        return account

    def deactivate(self, by: Actor | None, *, active_admins: int) -> bool:
        """Refuse the user from now on; False when already inactive (nothing recorded)."""
        check_may_manage_accounts(by)
        user = self.user
        check_not_own_account(by, user.id, "deactivate")
        if not user.active:
            return False
        self._check_keeps_an_admin(active_admins, "deactivate")
        self._trigger(
            self.Deactivated, actor_role(by), user_id=user.id, deactivated_by=actor_id(by)
        )
        return True

    def reactivate(self, by: Actor | None) -> bool:
        """Let the user in again; False when already active (nothing recorded)."""
        check_may_manage_accounts(by)
        user = self.user
        if user.active:
            return False
        self._trigger(
            self.Reactivated, actor_role(by), user_id=user.id, reactivated_by=actor_id(by)
        )
        return True

    def change_role(
        self, role: Role, by: Actor | None, *, active_admins: int, licenses_held: Sequence[int]
    ) -> bool:
        """Give the user another role; False when it is their role already (nothing recorded)."""
        check_may_manage_accounts(by)
        user = self.user
        check_not_own_account(by, user.id, "change the role of")
        if role is user.role:
            return False
        if user.role is Role.ADMIN:
            self._check_keeps_an_admin(active_admins, "demote")
        if user.role is Role.STUDENT and licenses_held:
            held = ", ".join(map(str, licenses_held))
            raise AccountConflict(
                f"User {user.id} holds licenses {held}: transfer them to another student first"
            )
        self._trigger(
            self.RoleChanged, actor_role(by), user_id=user.id, role=role, changed_by=actor_id(by)
        )
        return True

    def reset_password(self, by: Actor | None) -> None:
        """Record that the password was reset (the new hash goes to the table only)."""
        check_may_manage_accounts(by)
        self._trigger(
            self.PasswordReset, actor_role(by), user_id=self.user.id, reset_by=actor_id(by)
        )

    # -- state ----------------------------------------------------------------------------

    @property
    def user(self) -> UserRow:
        """The account as it stands (a stored account always has its registration)."""
        assert self.row is not None, "an account stream starts with Registered"
        return self.row

    def evolve(self, event: UserAccount.Event) -> None:
        """Apply the event's effect to the account's row."""
        self.row = event.effect.apply(self.row, event)

    def _check_keeps_an_admin(self, active_admins: int, change: str) -> None:
        user = self.user
        if user.role is Role.ADMIN and user.active and active_admins <= 1:
            raise AccountConflict(
                f"Cannot {change} user {user.id}: they are the last active admin; "
                "make another admin first"
            )


USER_EVENTS: tuple[type[UserAccount.Event], ...] = (
    UserAccount.Registered,
    UserAccount.RoleChanged,
    UserAccount.Deactivated,
    UserAccount.Reactivated,
    UserAccount.PasswordReset,
)
"""Every event of a user's account, in declaration order."""

"""The ledger's words: statuses, roles, outcomes, actors, stream ids, limits, the form of a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

RECORD_NAMESPACE = UUID("6f0b1d5e-2c39-5a7e-9a51-3b8f4c0d2e17")
ACCOUNT_NAMESPACE = UUID("0c5a1f3e-8d2b-5b47-9e61-7a4f2c9d3b58")
OPERATOR = "operator"
"""The actor role of account changes made with the `ledger` command (no user id)."""
MIGRATION = "migration"
"""The actor role of the opening events a migration wrote for accounts that predate them."""
REPLACED_BY_NEW = "Replaced by new"
REPLACED_AFTER_DISPUTE = "Replaced after dispute"
MAX_POINTS_TOTAL = 1000
MAX_NOTES_LENGTH = 2000
MAX_REASON_LENGTH = 500
MAX_DISPUTE_TEXT_LENGTH = 1000
DEFAULT_DISPUTE_WINDOW_DAYS = 30


class Status(StrEnum):
    """Lifecycle state of one assessment."""

    NOT_ASSESSED = "NOT_ASSESSED"
    ASSESSED = "ASSESSED"
    VALIDATED = "VALIDATED"
    DISPUTED = "DISPUTED"
    ARCHIVED = "ARCHIVED"

    @property
    def is_active(self) -> bool:
        """The pair's one active assessment is in one of these states."""
        return self in ACTIVE_STATUSES


ACTIVE_STATUSES = frozenset({Status.ASSESSED, Status.VALIDATED, Status.DISPUTED})


class Role(StrEnum):
    """What a user may do."""

    ADMIN = "admin"
    INSTRUCTOR = "instructor"
    STUDENT = "student"
    AUDITOR = "auditor"


class Outcome(StrEnum):
    """What a command did."""

    CREATED = "created"
    REPLACED = "replaced"
    IDENTICAL = "identical"
    VALIDATED = "validated"
    ARCHIVED = "archived"
    DISPUTED = "disputed"
    RESOLVED = "resolved"
    UNCHANGED = "unchanged"


class DisputeOutcome(StrEnum):
    """How a dispute closed: an admin's decision, or a new assessment that replaced the row."""

    APPROVE = "approve"
    REJECT = "reject"
    MODIFY = "modify"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Actor:
    """The user issuing a command."""

    user_id: int
    role: Role


def record_id(license_id: int, skill_name: str) -> UUID:
    """The deterministic stream id of one (license, skill) pair."""
    return uuid.uuid5(RECORD_NAMESPACE, f"{license_id}/{skill_name}")


def user_stream_id(user_id: int) -> UUID:
    """The deterministic stream id of one user's account."""
    return uuid.uuid5(ACCOUNT_NAMESPACE, f"user/{user_id}")


def license_stream_id(license_id: int) -> UUID:
    """The deterministic stream id of one license."""
    return uuid.uuid5(ACCOUNT_NAMESPACE, f"license/{license_id}")


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, the one textual form of a time in the ledger."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def percentage(points_earned: int, points_total: int) -> float:
    """points_earned as a percentage of points_total, two decimals."""
    return round(100.0 * points_earned / points_total, 2)

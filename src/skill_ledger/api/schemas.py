"""Request and response bodies (msgspec Structs with their constraints)."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from skill_ledger.accounts import LicenseInfo, User
from skill_ledger.domain import (
    COLUMNS,
    MAX_DISPUTE_TEXT_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_POINTS_TOTAL,
    MAX_REASON_LENGTH,
    Assessment,
    Role,
    Status,
)
from skill_ledger.domain.account import (
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
)

Points = Annotated[
    int, Meta(ge=0, le=MAX_POINTS_TOTAL, description="Points earned, 0…points_total")
]
Total = Annotated[int, Meta(ge=1, le=MAX_POINTS_TOTAL, description="Points available, 1…1000")]
# PostgreSQL text cannot hold NUL: refused here, before an event the projector could not store.
NO_NUL = r"^[^\x00]*$"
Notes = Annotated[
    str, Meta(max_length=MAX_NOTES_LENGTH, pattern=NO_NUL, description="Instructor's notes")
]
Reason = Annotated[str, Meta(min_length=1, max_length=MAX_REASON_LENGTH, pattern=NO_NUL)]
DisputeReason = Annotated[
    str,
    Meta(min_length=1, max_length=MAX_DISPUTE_TEXT_LENGTH, pattern=NO_NUL, description="Why"),
]
ResolutionNote = Annotated[
    str,
    Meta(
        max_length=MAX_DISPUTE_TEXT_LENGTH,
        pattern=NO_NUL,
        description="The admin's note (required for reject)",
    ),
]
Email = Annotated[str, Meta(min_length=3, max_length=MAX_EMAIL_LENGTH, pattern=NO_NUL)]
Password = Annotated[str, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
NewPassword = Annotated[
    str,
    Meta(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
    ),
]
Name = Annotated[
    str, Meta(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NO_NUL, description="Full name")
]
UserId = Annotated[int, Meta(ge=1, le=2**63 - 1, description="A user's id")]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Credentials."""

    email: Email
    password: Password


class LoginResponse(msgspec.Struct):
    """A bearer token."""

    access_token: str
    token_type: str
    expires_in: int


class AssessRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Grade a skill: points_earned of points_total, optional notes."""

    points_earned: Points
    points_total: Total
    notes: Notes | None = None


class ArchiveRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Why the assessment is archived."""

    reason: Reason


class DisputeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Why the holder contests the assessment (1–1000 characters)."""

    reason: DisputeReason


class ResolveRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The admin's decision; modify needs the new points."""

    outcome: Literal["approve", "reject", "modify"]
    note: ResolutionNote = ""
    points_earned: Points | None = None
    points_total: Total | None = None


def _wire_type(annotation: Any) -> Any:
    """The JSON type of a row field: ids and statuses as strings, the rest as they are."""
    return str if annotation is UUID or annotation is Status else annotation


_ROW_TYPES = typing.get_type_hints(Assessment)
_AssessmentFields = msgspec.defstruct(
    "AssessmentOut", [(column, _wire_type(_ROW_TYPES[column])) for column in COLUMNS]
)


class AssessmentOut(_AssessmentFields):  # type: ignore[misc,valid-type]
    """One assessment: every column of football_skill_assessments; times RFC 3339 UTC."""

    @classmethod
    def of(cls, row: Assessment) -> AssessmentOut:
        """From the domain row (its fields are this schema's fields)."""
        return cls(
            *(
                value.value
                if isinstance(value, Status)
                else str(value)
                if isinstance(value, UUID)
                else value
                for value in (getattr(row, column) for column in COLUMNS)
            )
        )


class AssessResponse(msgspec.Struct, omit_defaults=True):
    """The seed's answer to an assess: created, or identical with a message."""

    success: bool
    created: bool
    assessment: AssessmentOut
    message: str | None = None


class SessionItem(msgspec.Struct, forbid_unknown_fields=True):
    """One grade of a training session: a skill on a license, points_earned of points_total."""

    license_id: Annotated[int, Meta(ge=1, le=2**63 - 1, description="License id")]
    skill: Annotated[str, Meta(min_length=1, max_length=64, description="Skill name")]
    points_earned: Points
    points_total: Total
    notes: Notes | None = None


class SessionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A training session's grades: 1 to 200 items, each its own assess command."""

    items: Annotated[
        list[SessionItem], Meta(min_length=1, description="At most 200 items (more: 413)")
    ]


class SessionItemResult(msgspec.Struct, omit_defaults=True):
    """One item's answer: the assessment (created or identical), or the problem refusing it."""

    index: int
    status: int
    created: bool | None = None
    assessment: AssessmentOut | None = None
    problem: Problem | None = None


class SessionResponse(msgspec.Struct):
    """One result per item, in request order."""

    results: list[SessionItemResult]


class CommandResponse(msgspec.Struct):
    """The answer to validate and archive."""

    success: bool
    assessment: AssessmentOut


class ResolveResponse(msgspec.Struct):
    """The disputed assessment as it now stands, and the admin's new one after modify."""

    success: bool
    assessment: AssessmentOut
    replacement: AssessmentOut | None


class DisputesOut(msgspec.Struct):
    """A page of disputes; pass `next_after` back as `after` for the next page (null when this
    page was not full: nothing follows)."""

    disputes: list[AssessmentOut]
    next_after: str | None


class ProjectorHealth(msgspec.Struct, omit_defaults=True):
    """The read table's projection against the log."""

    position: int
    head: int
    lag_events: int
    stalled_at: int | None = None


class Health(msgspec.Struct, omit_defaults=True):
    """healthy, degraded (the projector is stalled: reads served, commands 503) or unhealthy."""

    status: str
    detail: str | None = None
    projector: ProjectorHealth | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


class UserOut(msgspec.Struct):
    """A user account (never its password hash)."""

    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        """From the accounts' view of the users table."""
        return cls(user.id, user.email, user.name, user.role, user.active, user.created_at)


class NewUserRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A new account: login email (unique, case-insensitive), name, role, first password."""

    email: Email
    name: Name
    role: Role
    password: NewPassword


class RoleRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The user's new role."""

    role: Role


class PasswordRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The user's new password."""

    password: NewPassword


class UserResponse(msgspec.Struct):
    """The answer to an account command: changed is false when nothing needed recording."""

    success: bool
    changed: bool
    user: UserOut


class LicenseOut(msgspec.Struct):
    """A license and the student holding it."""

    id: int
    holder_id: int
    holder_email: str
    created_at: datetime

    @classmethod
    def of(cls, held: LicenseInfo) -> LicenseOut:
        """From the accounts' view of the licenses table."""
        return cls(held.id, held.holder_id, held.holder_email, held.created_at)


class HolderRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Who holds the license (an active student)."""

    holder_id: UserId


class LicenseResponse(msgspec.Struct):
    """The answer to a license command: changed is false when nothing needed recording."""

    success: bool
    changed: bool
    license: LicenseOut

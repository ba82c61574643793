"""Request and response bodies (msgspec Structs with their constraints)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from skill_ledger.domain import MAX_NOTES_LENGTH, MAX_POINTS_TOTAL, MAX_REASON_LENGTH, Assessment

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
Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=NO_NUL)]
Password = Annotated[str, Meta(min_length=1, max_length=1024)]


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


class AssessmentOut(msgspec.Struct):
    """One assessment: every column of football_skill_assessments; times RFC 3339 UTC."""

    id: str
    user_license_id: int
    skill_name: str
    points_earned: int
    points_total: int
    percentage: float
    notes: str
    status: str
    requires_validation: bool
    assessed_by: int
    assessed_at: datetime
    validated_by: int | None
    validated_at: datetime | None
    archived_by: int | None
    archived_at: datetime | None
    archived_reason: str | None
    previous_status: str
    status_changed_at: datetime
    status_changed_by: int

    @classmethod
    def of(cls, row: Assessment) -> AssessmentOut:
        """From the domain row."""
        return cls(
            id=str(row.id),
            user_license_id=row.user_license_id,
            skill_name=row.skill_name,
            points_earned=row.points_earned,
            points_total=row.points_total,
            percentage=row.percentage,
            notes=row.notes,
            status=row.status.value,
            requires_validation=row.requires_validation,
            assessed_by=row.assessed_by,
            assessed_at=row.assessed_at,
            validated_by=row.validated_by,
            validated_at=row.validated_at,
            archived_by=row.archived_by,
            archived_at=row.archived_at,
            archived_reason=row.archived_reason,
            previous_status=row.previous_status.value,
            status_changed_at=row.status_changed_at,
            status_changed_by=row.status_changed_by,
        )


class AssessResponse(msgspec.Struct, omit_defaults=True):
    """The seed's answer to an assess: created, or identical with a message."""

    success: bool
    created: bool
    assessment: AssessmentOut
    message: str | None = None


class CommandResponse(msgspec.Struct):
    """The answer to validate and archive."""

    success: bool
    assessment: AssessmentOut


class Health(msgspec.Struct, omit_defaults=True):
    """Liveness with a real database check."""

    status: str
    detail: str | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None

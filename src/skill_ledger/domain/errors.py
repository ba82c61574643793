"""The ledger's named errors: raised by the domain, translated at each entry point."""

from __future__ import annotations

from uuid import UUID

from skill_ledger.domain.vocabulary import Status


class LedgerError(Exception):
    """Base class of the ledger's named errors."""


class NotPermitted(LedgerError):
    """The actor's role or relation to the assessment forbids the command."""


class SelfValidationForbidden(NotPermitted):
    """An assessor cannot validate their own assessment (four-eyes rule)."""


class NotFound(LedgerError):
    """Something the command names does not exist."""


class AssessmentNotFound(NotFound):
    """No assessment has this id."""

    def __init__(self, assessment_id: UUID) -> None:
        super().__init__(f"Assessment {assessment_id} not found")
        self.assessment_id = assessment_id


class LicenseNotFound(NotFound):
    """No license has this id."""

    def __init__(self, license_id: int) -> None:
        super().__init__(f"License {license_id} not found")
        self.license_id = license_id


class UnknownSkill(NotFound):
    """The skill is not in the catalogue."""

    def __init__(self, skill_name: str) -> None:
        super().__init__(f"Skill {skill_name!r} is not in the catalogue")
        self.skill_name = skill_name


class InvalidTransition(LedgerError):
    """The assessment's current state does not allow the command."""

    def __init__(self, assessment_id: UUID, status: Status, command: str) -> None:
        super().__init__(f"Cannot {command} assessment {assessment_id}: it is {status.value}")
        self.assessment_id = assessment_id
        self.status = status
        self.command = command


class DisputeRefused(LedgerError):
    """The assessment cannot be disputed or resolved as asked (already disputed, window over,
    not disputed, identical points for modify)."""

    def __init__(self, assessment_id: UUID, reason: str) -> None:
        super().__init__(f"Assessment {assessment_id}: {reason}")
        self.assessment_id = assessment_id
        self.reason = reason


class InvalidAssessment(LedgerError):
    """The command's values break a rule (points out of range, notes too long, …)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ConcurrencyConflict(LedgerError):
    """Other writers kept winning the stream; the command gave up after its retries."""


class AccountError(LedgerError):
    """Base class of the errors about users and licenses."""


class InvalidAccount(AccountError):
    """An account field is malformed (email, name, role, password)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DuplicateEmail(AccountError):
    """Another user already has this email (compared case-insensitively)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"A user with email {email!r} already exists")
        self.email = email


class UserNotFound(AccountError, NotFound):
    """No user matches."""

    def __init__(self, who: str) -> None:
        super().__init__(f"No user {who}")
        self.who = who


class AccountConflict(AccountError):
    """The accounts as they stand forbid the change (the last active admin, a holder who is not
    an active student, a student who still holds licenses)."""


class OwnAccountForbidden(NotPermitted):
    """An admin cannot deactivate their own account or change their own role."""

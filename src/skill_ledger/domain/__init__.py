"""The pure domain: vocabulary, errors, the hash chain, role rules, policy and the skill record.

It imports only the standard library and eventsourcing's base classes (import-linter checks).
"""

from skill_ledger.domain.assessment import (
    COLUMNS,
    Assessment,
    RowEffect,
    Transition,
    effect_of,
    fold,
    transitions,
)
from skill_ledger.domain.chain import GENESIS_HASH, canonical_json, chain_hash, event_payload
from skill_ledger.domain.errors import (
    AssessmentNotFound,
    ConcurrencyConflict,
    InvalidAssessment,
    InvalidTransition,
    LedgerError,
    LicenseNotFound,
    NotFound,
    NotPermitted,
    SelfValidationForbidden,
    UnknownSkill,
)
from skill_ledger.domain.permissions import (
    Action,
    check_may_fetch_receipt,
    check_may_read_license,
    check_role,
)
from skill_ledger.domain.policy import ValidationPolicy, check_points
from skill_ledger.domain.record import EVENT_CLASSES, RecordState, SkillRecord
from skill_ledger.domain.vocabulary import (
    ACTIVE_STATUSES,
    MAX_NOTES_LENGTH,
    MAX_POINTS_TOTAL,
    MAX_REASON_LENGTH,
    REPLACED_BY_NEW,
    Actor,
    Outcome,
    Role,
    Status,
    format_time,
    percentage,
    record_id,
)

__all__ = [
    "ACTIVE_STATUSES",
    "COLUMNS",
    "EVENT_CLASSES",
    "GENESIS_HASH",
    "MAX_NOTES_LENGTH",
    "MAX_POINTS_TOTAL",
    "MAX_REASON_LENGTH",
    "REPLACED_BY_NEW",
    "Action",
    "Actor",
    "Assessment",
    "AssessmentNotFound",
    "ConcurrencyConflict",
    "InvalidAssessment",
    "InvalidTransition",
    "LedgerError",
    "LicenseNotFound",
    "NotFound",
    "NotPermitted",
    "Outcome",
    "RecordState",
    "Role",
    "RowEffect",
    "SelfValidationForbidden",
    "SkillRecord",
    "Status",
    "Transition",
    "UnknownSkill",
    "ValidationPolicy",
    "canonical_json",
    "chain_hash",
    "check_may_fetch_receipt",
    "check_may_read_license",
    "check_points",
    "check_role",
    "effect_of",
    "event_payload",
    "fold",
    "format_time",
    "percentage",
    "record_id",
    "transitions",
]

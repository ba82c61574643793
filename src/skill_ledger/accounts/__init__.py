"""Users and licenses: each change an event in the ledger, the tables written with the events."""

from skill_ledger.accounts.rebuild import AccountHistoryUnreadable, AccountRebuild
from skill_ledger.accounts.service import Accounts, default_hasher
from skill_ledger.accounts.tables import ACCOUNTS_LOCK, LicenseInfo, User
from skill_ledger.domain import (
    AccountConflict,
    AccountError,
    DuplicateEmail,
    InvalidAccount,
    UserNotFound,
    parse_role,
)

__all__ = [
    "ACCOUNTS_LOCK",
    "AccountConflict",
    "AccountError",
    "AccountHistoryUnreadable",
    "AccountRebuild",
    "Accounts",
    "DuplicateEmail",
    "InvalidAccount",
    "LicenseInfo",
    "User",
    "UserNotFound",
    "default_hasher",
    "parse_role",
]

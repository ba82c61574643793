"""Demo accounts for `make run`: one user per role and a license; development only."""

from __future__ import annotations

from dataclasses import dataclass

from skill_ledger.accounts import Accounts
from skill_ledger.domain import Role

DEMO_USERS = (
    ("admin@lfa.com", "Ada Admin", Role.ADMIN, "admin-demo-pass"),
    ("instructor@lfa.com", "Ian Instructor", Role.INSTRUCTOR, "instructor-demo-pass"),
    ("student@lfa.com", "Sam Student", Role.STUDENT, "student-demo-pass"),
    ("auditor@lfa.com", "Audrey Auditor", Role.AUDITOR, "auditor-demo-pass"),
)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo login."""

    email: str
    role: Role
    password: str
    user_id: int


def seed_demo(accounts: Accounts) -> tuple[list[DemoAccount], int]:
    """Create the demo users and the student's license unless they exist (safe to repeat)."""
    created: list[DemoAccount] = []
    for email, name, role, password in DEMO_USERS:
        user = accounts.find_user(email) or accounts.add_user(email, name, role, password)
        created.append(DemoAccount(email, role, password, user.id))
    student = next(account for account in created if account.role is Role.STUDENT)
    held = accounts.licenses_held_by(student.user_id)
    license_id = held[0] if held else accounts.add_license(student.email)
    return created, license_id

"""create_accounts: users (argon2 hashes, roles) and licenses; reference data, not ledger history

Revision ID: 2026_11_25_0910
Revises: 2026_11_25_0900
Create Date: 2026-11-25 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2026_11_25_0910"
down_revision = "2026_11_25_0900"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, sa.Identity(always=False), primary_key=True),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", Time, nullable=False, server_default=sa.func.current_timestamp()),
        sa.CheckConstraint(
            "role IN ('admin', 'instructor', 'student', 'auditor')", name="ck_users_role"
        ),
    )
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "licenses",
        sa.Column("id", Id, sa.Identity(always=False), primary_key=True),
        sa.Column(
            "holder_id",
            Id,
            sa.ForeignKey("users.id", name="fk_licenses_holder"),
            nullable=False,
        ),
        sa.Column("created_at", Time, nullable=False, server_default=sa.func.current_timestamp()),
    )
    op.create_index("ix_licenses_holder_id", "licenses", ["holder_id"])


def downgrade() -> None:
    op.drop_index("ix_licenses_holder_id", table_name="licenses")
    op.drop_table("licenses")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_table("users")

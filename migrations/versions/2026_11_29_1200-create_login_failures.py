"""create_login_failures: failed logins per account and window, shared by every API process

Keyed by a SHA-256 of the lower-cased email as typed, whether or not such a user exists, so the
limit answers the same for unknown emails and stores no address. Rows are disposable: an
expired window is deleted by the next process that passes by, and downgrading drops the table.

Revision ID: 2026_11_29_1200
Revises: 2026_11_29_1101
Create Date: 2026-11-29 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2026_11_29_1200"
down_revision = "2026_11_29_1101"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("account", sa.Text(), primary_key=True),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
    )
    op.create_index("ix_login_failures_window_start", "login_failures", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_window_start", table_name="login_failures")
    op.drop_table("login_failures")

"""add_projection_version: projection_tracking records which version of the fold built the table

The code carries a projection version (readside/table.PROJECTION_VERSION). A leading projector
that finds an older version in the tracking row rebuilds the table in the background (blue-green
on PostgreSQL) and records the new version when it swaps the table in. Existing rows are
version 1, the version of the fold that built them.

Revision ID: 2026_11_29_1700
Revises: 2026_11_29_1500
Create Date: 2026-11-29 17:00:00
"""

from __future__ import annotations

from alembic import op

revision = "2026_11_29_1700"
down_revision = "2026_11_29_1500"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE projection_tracking ADD COLUMN version INTEGER NOT NULL DEFAULT 1")


def downgrade() -> None:
    op.execute("ALTER TABLE projection_tracking DROP COLUMN version")

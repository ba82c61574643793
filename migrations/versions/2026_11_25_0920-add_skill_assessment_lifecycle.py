"""add_skill_assessment_lifecycle: the football_skill_assessments read table (a projection)

The table is projected from the event store; dropping it loses nothing, and its tracking row
goes with it so the projector rebuilds it after the next upgrade.

Revision ID: 2026_11_25_0920
Revises: 2026_11_25_0910
Create Date: 2026-11-25 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2026_11_25_0920"
down_revision = "2026_11_25_0910"
branch_labels = None
depends_on = None

TABLE = "football_skill_assessments"
Time = sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Uuid = sa.Uuid().with_variant(sa.Text(), "sqlite")
Percentage = sa.Numeric(5, 2).with_variant(sa.Float(), "sqlite")
ACTIVE = "status IN ('ASSESSED', 'VALIDATED')"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", Uuid, primary_key=True),
        sa.Column("user_license_id", Id, nullable=False),
        sa.Column("skill_name", sa.Text(), nullable=False),
        sa.Column("points_earned", sa.Integer(), nullable=False),
        sa.Column("points_total", sa.Integer(), nullable=False),
        sa.Column(
            "percentage", sa.Numeric(5, 2).with_variant(sa.Float(), "sqlite"), nullable=False
        ),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        sa.Column("assessed_by", Id, nullable=False),
        sa.Column("assessed_at", Time, nullable=False),
        sa.Column("requires_validation", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("validated_by", Id, nullable=True),
        sa.Column("validated_at", Time, nullable=True),
        sa.Column("archived_by", Id, nullable=True),
        sa.Column("archived_at", Time, nullable=True),
        sa.Column("archived_reason", sa.Text(), nullable=True),
        sa.Column("previous_status", sa.Text(), nullable=True),
        sa.Column("status_changed_at", Time, nullable=True),
        sa.Column("status_changed_by", Id, nullable=True),
        sa.CheckConstraint(
            "status IN ('NOT_ASSESSED', 'ASSESSED', 'VALIDATED', 'ARCHIVED')",
            name="ck_skill_assessment_status",
        ),
        sa.CheckConstraint(
            "points_total BETWEEN 1 AND 1000 AND points_earned BETWEEN 0 AND points_total",
            name="ck_skill_assessment_points",
        ),
    )
    op.create_index(
        "uq_skill_assessment_active",
        TABLE,
        ["user_license_id", "skill_name"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_skill_assessments_license_skill",
        TABLE,
        ["user_license_id", "skill_name", "assessed_at"],
    )
    op.create_index("ix_skill_assessments_assessed_at", TABLE, ["assessed_at"])
    op.create_index("ix_skill_assessments_assessed_by", TABLE, ["assessed_by", "assessed_at"])
    op.create_index("ix_skill_assessments_skill_assessed_at", TABLE, ["skill_name", "assessed_at"])
    op.create_index("ix_skill_assessments_status", TABLE, ["status"])
    op.create_index(
        "ix_skill_assessments_pending",
        TABLE,
        ["assessed_at"],
        postgresql_where=sa.text("status = 'ASSESSED' AND requires_validation"),
        sqlite_where=sa.text("status = 'ASSESSED' AND requires_validation"),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
    op.execute(f"DELETE FROM projection_tracking WHERE application_name = '{TABLE}'")

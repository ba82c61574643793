"""create_report_views: report_settings and the analysts' report views (projections/*.sql)

The views' SQL lives in projections/ as the single source: NAME.sql when both backends
share it, NAME.postgresql.sql and NAME.sqlite.sql where date arithmetic differs. None is
PostgreSQL-only. report_settings holds the one row of thresholds the views read.

Revision ID: 2026_11_25_0930
Revises: 2026_11_25_0920
Create Date: 2026-11-25 09:30:00
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "2026_11_25_0930"
down_revision = "2026_11_25_0920"
branch_labels = None
depends_on = None

PROJECTIONS = Path(__file__).resolve().parents[2] / "projections"
# Creation order: report_window first, the views built on it after.
VIEWS = (
    "report_window",
    "daily_assessment_rate",
    "validation_requirement_distribution",
    "state_distribution",
    "skill_activity",
    "instructor_activity",
    "validation_backlog",
)


def view_sql(name: str, dialect: str) -> str:
    """The CREATE VIEW statement of a view for this backend."""
    for candidate in (PROJECTIONS / f"{name}.{dialect}.sql", PROJECTIONS / f"{name}.sql"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError(f"No SQL for view {name} ({dialect}) in {PROJECTIONS}")


def upgrade() -> None:
    op.create_table(
        "report_settings",
        sa.Column("id", sa.SmallInteger(), primary_key=True, server_default="1"),
        sa.Column("window_days", sa.Integer(), nullable=False, server_default="7"),
        sa.Column("backlog_alert_pending", sa.Integer(), nullable=False, server_default="50"),
        sa.Column(
            "backlog_alert_age_hours",
            sa.Numeric(8, 2).with_variant(sa.Float(), "sqlite"),
            nullable=False,
            server_default="48",
        ),
        sa.CheckConstraint("id = 1", name="ck_report_settings_single_row"),
        sa.CheckConstraint("window_days BETWEEN 1 AND 366", name="ck_report_settings_window"),
        sa.CheckConstraint("backlog_alert_pending >= 0", name="ck_report_settings_pending"),
        sa.CheckConstraint("backlog_alert_age_hours > 0", name="ck_report_settings_age"),
    )
    op.execute("INSERT INTO report_settings (id) VALUES (1)")
    dialect = op.get_bind().dialect.name
    for name in VIEWS:
        op.execute(view_sql(name, dialect))


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("report_settings")

"""add_projection_stall: projection_tracking records where and why a projection is stalled

A projector that cannot apply an event writes the event's position and the reason beside its
tracking position; every process (API workers following a separate `ledger project`, standby
projectors, /health, /metrics) reads them there. The next batch that commits, or a rebuild,
clears them. Derived state: dropping the columns loses nothing.

Revision ID: 2026_11_29_1100
Revises: 2026_11_25_0950
Create Date: 2026-11-29 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = "2026_11_29_1100"
down_revision = "2026_11_25_0950"
branch_labels = None
depends_on = None

COLUMNS = (("stalled_at", "BIGINT"), ("stall_reason", "TEXT"))


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.execute(f"ALTER TABLE projection_tracking ADD COLUMN {name} {kind}")


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE projection_tracking DROP COLUMN {name}")

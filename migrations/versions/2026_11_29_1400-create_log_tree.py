"""create_log_tree: the Merkle tree over the whole log, and the signed checkpoints of it

log_tree_nodes keeps every leaf (with its event's position) and the root of every complete
subtree at levels 4, 8, 12, …; it is derived from the log and `ledger audit tree rebuild`
recomputes it. log_checkpoints keeps the signed notes the server issued (C2SP tlog-checkpoint).

Revision ID: 2026_11_29_1400
Revises: 2026_11_29_1300
Create Date: 2026-11-29 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2026_11_29_1400"
down_revision = "2026_11_29_1300"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite")
Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_tree_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", Big, nullable=False),
        sa.Column("position", Big, nullable=True),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_log_tree_nodes"),
        sa.CheckConstraint(
            "(level = 0) = (position IS NOT NULL)", name="ck_log_tree_leaf_position"
        ),
    )
    op.create_index(
        "uq_log_tree_leaf_position",
        "log_tree_nodes",
        ["position"],
        unique=True,
        postgresql_where=sa.text("level = 0"),
        sqlite_where=sa.text("level = 0"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("tree_size", Big, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("key_id", "tree_size", name="pk_log_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_index("uq_log_tree_leaf_position", table_name="log_tree_nodes")
    op.drop_table("log_tree_nodes")
    op.execute("DELETE FROM projection_tracking WHERE application_name = 'log_tree'")

"""add_locked_insert_function: insert a batch of events in one round trip, under the table lock

The eventsourcing recorder inserts with a pipeline of statements (lock, notify, insert) and an
explicit commit. This function does the same in one call: it takes the same EXCLUSIVE table lock
first, so commit order still equals notification order (unlike the library's own
POSTGRES_ENABLE_DB_FUNCTIONS function, which drops the lock), then notifies and inserts.

Revision ID: 2026_11_25_0950
Revises: 2026_11_25_0940
Create Date: 2026-11-25 09:50:00
"""

from __future__ import annotations

from alembic import op

revision = "2026_11_25_0950"
down_revision = "2026_11_25_0940"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION ledger_insert_events(events stored_event_uuid[])
        RETURNS SETOF bigint
        LANGUAGE plpgsql
        AS $$
        BEGIN
            LOCK TABLE ledger_events IN EXCLUSIVE MODE;
            NOTIFY ledger_events;
            RETURN QUERY
                INSERT INTO ledger_events (originator_id, originator_version, topic, state)
                SELECT e.originator_id, e.originator_version, e.topic, e.state
                FROM unnest(events) AS e
                RETURNING notification_id;
        END;
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS ledger_insert_events(stored_event_uuid[])")

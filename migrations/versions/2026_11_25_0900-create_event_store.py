"""create_event_store: the eventsourcing tables (events, snapshots) and projection tracking

The DDL matches what eventsourcing 9.5 would create itself, so production runs with the
library's CREATE_TABLE switched off. PostgreSQL tables are named after the application
("ledger"); the library's SQLite recorder uses fixed names (stored_events, stored_snapshots).

Revision ID: 2026_11_25_0900
Revises:
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "2026_11_25_0900"
down_revision = None
branch_labels = None
depends_on = None

AUTOVACUUM = (
    "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
    "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.01)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DO $$ BEGIN "
            "CREATE TYPE stored_event_uuid AS "
            "(originator_id uuid, originator_version bigint, topic text, state bytea); "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        op.execute(
            "CREATE TABLE ledger_events ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            f"PRIMARY KEY (originator_id, originator_version)) {AUTOVACUUM}"
        )
        op.execute(
            "CREATE UNIQUE INDEX ledger_events_notification_id_idx "
            "ON ledger_events (notification_id ASC)"
        )
        op.execute(
            "CREATE TABLE ledger_snapshots ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, "
            f"state bytea, PRIMARY KEY (originator_id, originator_version)) {AUTOVACUUM}"
        )
        op.execute(
            "CREATE TABLE projection_tracking ("
            "application_name text PRIMARY KEY, notification_id bigint NOT NULL)"
        )
        return
    op.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    op.execute(
        "CREATE TABLE stored_snapshots (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
    )
    op.execute(
        "CREATE TABLE projection_tracking ("
        "application_name TEXT PRIMARY KEY, notification_id INTEGER NOT NULL) WITHOUT ROWID"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    events = "ledger_events" if postgres else "stored_events"
    count = op.get_bind().exec_driver_sql(f"SELECT COUNT(*) FROM {events}").scalar()
    if count:
        raise RuntimeError(
            f"Refusing to drop the event store: {events} holds {count} events. "
            "Export and back up the ledger first, then drop it by hand if you really mean it."
        )
    op.execute("DROP TABLE projection_tracking")
    if postgres:
        op.execute("DROP TABLE ledger_snapshots")
        op.execute("DROP TABLE ledger_events")
        op.execute("DROP TYPE IF EXISTS stored_event_uuid")
    else:
        op.execute("DROP TABLE stored_snapshots")
        op.execute("DROP TABLE stored_events")

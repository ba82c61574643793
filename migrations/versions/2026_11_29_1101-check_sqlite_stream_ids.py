"""check_sqlite_stream_ids: SQLite event tables refuse a stream id not spelled as 32 lowercase hex

The library's SQLite recorder stores a stream id as `uuid.hex`. Any other spelling of the same
id (hyphenated, upper-case) hides the event from the application while the hash chain, which
hashes the canonical id, still verifies. SQLite cannot add a CHECK to an existing table, so
stored_events and stored_snapshots are rebuilt with one, keeping every rowid: an event's rowid
is its position in the log, which the projection, the checkpoints and receipts refer to.

PostgreSQL stores stream ids as uuid, which has one spelling: nothing to do there.

Revision ID: 2026_11_29_1101
Revises: 2026_11_29_1100
Create Date: 2026-11-29 11:01:00
"""

from __future__ import annotations

from alembic import op

revision = "2026_11_29_1101"
down_revision = "2026_11_29_1100"
branch_labels = None
depends_on = None

CANONICAL = (
    "typeof(originator_id) = 'text' AND length(originator_id) = 32 "
    "AND originator_id NOT GLOB '*[^0-9a-f]*'"
)
COLUMNS = "originator_id, originator_version, topic, state"
# The library's own DDL (as revision 2026_11_25_0900 wrote it), with or without the CHECK.
TABLES = {
    "stored_events": (
        "CREATE TABLE {name} (originator_id TEXT{check}, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))",
        "rowid, ",
    ),
    "stored_snapshots": (
        "CREATE TABLE {name} (originator_id TEXT{check}, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID",
        "",
    ),
}


def _rebuild(table: str, check: str) -> None:
    create, rowid = TABLES[table]
    rebuilt = f"{table}_rebuilt"
    order = "rowid" if rowid else "originator_id, originator_version"
    op.execute(create.format(name=rebuilt, check=check))
    op.execute(
        f"INSERT INTO {rebuilt} ({rowid}{COLUMNS}) "
        f"SELECT {rowid}{COLUMNS} FROM {table} ORDER BY {order}"
    )
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        found = (
            op.get_bind()
            .exec_driver_sql(f"SELECT COUNT(*) FROM {table} WHERE NOT ({CANONICAL})")
            .scalar()
        )
        if found:
            raise RuntimeError(
                f"Refusing to migrate: {table} holds {found} rows whose stream id is not "
                "32 lowercase hex digits (someone respelled them). List them with "
                f"SELECT * FROM {table} WHERE NOT ({CANONICAL}); restore them from a backup, "
                "or respell each id as lower(replace(originator_id, '-', '')) if it is the "
                "same UUID, then migrate again and run `ledger audit verify`."
            )
        _rebuild(table, f" CONSTRAINT ck_{table}_stream_id CHECK ({CANONICAL})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild(table, "")

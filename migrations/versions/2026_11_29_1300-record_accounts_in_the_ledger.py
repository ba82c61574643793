"""record_accounts_in_the_ledger: opening events for the users and licenses already in the tables

From this revision on, every change to a user or a license is an event in the ledger: one
stream per user and per license, hash-chained like the skill records, and `users` and
`licenses` are written with their events. Rows that exist before it get opening events,
appended after every event already in the log (older events, and checkpoints taken of them,
stay as they are), stamped with the migration's time and the actor role "migration":
`UserAccount.Registered` for each user (and `UserAccount.Deactivated` for an inactive one),
`License.Issued` for each license. `users` gains `tokens_valid_after`, the time of the last
deactivation or password reset (bearer tokens issued before it are refused): for an inactive
user, the time of its opening `Deactivated`.

Frozen: the revision carries its own copy of the stream ids, the stored payload and the chain
hash (docs/audit.md); tests/integration/test_account_migration.py checks it writes exactly
what the code writes. On PostgreSQL the events go through ledger_insert_events, under the
store's table lock.

Downgrade deletes the opening events when they are the only account events. Account changes
recorded since are history nothing can rebuild: the downgrade refuses unless forced
(`ledger db downgrade --force`, or `alembic -x force=yes downgrade`).

Revision ID: 2026_11_29_1300
Revises: 2026_11_29_1200
Create Date: 2026-11-29 13:00:00
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import context, op

revision = "2026_11_29_1300"
down_revision = "2026_11_29_1200"
branch_labels = None
depends_on = None

ACCOUNT_NAMESPACE = uuid.UUID("0c5a1f3e-8d2b-5b47-9e61-7a4f2c9d3b58")
GENESIS_HASH = "0" * 64
MIGRATION = "migration"
REGISTERED = "skill_ledger.domain:UserAccount.Registered"
DEACTIVATED = "skill_ledger.domain:UserAccount.Deactivated"
ISSUED = "skill_ledger.domain:License.Issued"
ACCOUNT_TOPICS = (
    REGISTERED,
    "skill_ledger.domain:UserAccount.RoleChanged",
    DEACTIVATED,
    "skill_ledger.domain:UserAccount.Reactivated",
    "skill_ledger.domain:UserAccount.PasswordReset",
    ISSUED,
    "skill_ledger.domain:License.Transferred",
)
BATCH = 500
Time = sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite")

Event = tuple[uuid.UUID, int, str, bytes]
"""(stream id, version, topic, stored state) as the events table holds it."""


def canonical_json(value: object) -> bytes:
    """RFC 8785 for our payloads: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chained(
    stream: uuid.UUID, version: int, topic: str, fields: dict[str, Any], prev_hash: str, at: str
) -> tuple[bytes, str]:
    """One event's stored state (keys in the event class's field order) and its chain hash."""
    payload = {"timestamp": at, "actor_role": MIGRATION, **fields}
    document = {
        "payload": payload,
        "prev_hash": prev_hash,
        "stream": str(stream),
        "type": topic.rpartition(".")[2],
        "version": version,
    }
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    state = {"timestamp": at, "actor_role": MIGRATION, "prev_hash": prev_hash, "hash": digest}
    return msgspec.json.encode({**state, **fields}), digest


def opening_events(
    users: Sequence[tuple[int, str, str, str, bool]],
    licenses: Sequence[tuple[int, int]],
    at: datetime,
) -> list[Event]:
    """The opening events of these users (id, email, name, role, active) and licenses
    (id, holder id), stamped `at`."""
    when = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    events: list[Event] = []
    for user_id, email, name, role, active in users:
        stream = uuid.uuid5(ACCOUNT_NAMESPACE, f"user/{user_id}")
        fields: dict[str, Any] = {
            "user_id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "registered_by": None,
        }
        state, digest = chained(stream, 1, REGISTERED, fields, GENESIS_HASH, when)
        events.append((stream, 1, REGISTERED, state))
        if not active:
            fields = {"user_id": user_id, "deactivated_by": None}
            state, _ = chained(stream, 2, DEACTIVATED, fields, digest, when)
            events.append((stream, 2, DEACTIVATED, state))
    for license_id, holder_id in licenses:
        stream = uuid.uuid5(ACCOUNT_NAMESPACE, f"license/{license_id}")
        fields = {"license_id": license_id, "holder_id": holder_id, "issued_by": None}
        state, _ = chained(stream, 1, ISSUED, fields, GENESIS_HASH, when)
        events.append((stream, 1, ISSUED, state))
    return events


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _insert(events: Sequence[Event]) -> None:
    bind = op.get_bind()
    if _postgres():
        rows = ", ".join(["(%s, %s, %s, %s)::stored_event_uuid"] * len(events))
        params = tuple(value for event in events for value in event)
        bind.exec_driver_sql(f"SELECT ledger_insert_events(ARRAY[{rows}])", params)
        return
    bind.exec_driver_sql(
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?)",
        [(stream.hex, version, topic, state) for stream, version, topic, state in events],
    )


def upgrade() -> None:
    bind = op.get_bind()
    users = [
        (int(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]))
        for row in bind.exec_driver_sql(
            "SELECT id, email, name, role, active FROM users ORDER BY id"
        ).fetchall()
    ]
    licenses = [
        (int(row[0]), int(row[1]))
        for row in bind.exec_driver_sql("SELECT id, holder_id FROM licenses ORDER BY id").fetchall()
    ]
    at = datetime.now(UTC)
    op.add_column("users", sa.Column("tokens_valid_after", Time, nullable=True))
    # As the code stores a time: timestamptz on PostgreSQL, the ledger's RFC 3339 text on SQLite.
    stamp: Any = at if _postgres() else at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    mark = "%s" if _postgres() else "?"
    bind.exec_driver_sql(f"UPDATE users SET tokens_valid_after = {mark} WHERE NOT active", (stamp,))
    events = opening_events(users, licenses, at)
    for start in range(0, len(events), BATCH):
        _insert(events[start : start + BATCH])


def _opening(state: bytes) -> bool:
    try:
        document = json.loads(state)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("actor_role") == MIGRATION


def _forced() -> bool:
    if context.config.attributes.get("force_downgrade"):
        return True
    return context.get_x_argument(as_dictionary=True).get("force", "") in ("1", "yes", "true")


def downgrade() -> None:
    bind = op.get_bind()
    table = "ledger_events" if _postgres() else "stored_events"
    mark = "%s" if _postgres() else "?"
    where = f"topic IN ({', '.join([mark] * len(ACCOUNT_TOPICS))})"
    states = bind.exec_driver_sql(
        f"SELECT state FROM {table} WHERE {where}", ACCOUNT_TOPICS
    ).fetchall()
    recorded = sum(1 for (state,) in states if not _opening(bytes(state)))
    if recorded and not _forced():
        raise RuntimeError(
            f"Refusing to drop the event store's account history: {table} holds {recorded} "
            "account events recorded since revision 2026_11_29_1300 (users and licenses "
            "created or changed), which nothing can rebuild. Keep them with "
            "`ledger audit export`, then downgrade with --force to delete them."
        )
    bind.exec_driver_sql(f"DELETE FROM {table} WHERE {where}", ACCOUNT_TOPICS)
    op.execute("ALTER TABLE users DROP COLUMN tokens_valid_after")

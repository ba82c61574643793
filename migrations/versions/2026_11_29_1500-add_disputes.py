"""add_disputes: DISPUTED in the read table, its dispute columns, and the dispute report views

Written to run on a live ledger. On PostgreSQL every step commits on its own (alembic's
autocommit blocks), so no lock is held for more than one short catalogue change:

- the six nullable dispute columns are added (no default: no table rewrite);
- `ck_skill_assessment_status` is replaced by one admitting DISPUTED, added NOT VALID (a
  moment's lock), then VALIDATEd (SHARE UPDATE EXCLUSIVE: readers and writers go on);
- `uq_skill_assessment_active`, which must cover DISPUTED too, is built anew CONCURRENTLY
  under a temporary name, then swapped in (drop the old, rename the new: one short
  transaction); so is the partial index the dispute list reads;
- report_settings gains the dispute thresholds; the three views are created and granted to
  ledger_analyst.

Each step tolerates a rerun after a failure half-way (IF [NOT] EXISTS, an invalid index left
by a failed concurrent build is dropped first). lock_timeout bounds every wait for a lock, so
a long transaction makes the step fail (rerun it) rather than queue every other session
behind it.

SQLite cannot change a CHECK in place: the table is rebuilt with the new one (one writer at a
time anyway; readers of WAL see the old table until the commit).

The downgrade refuses while any assessment is DISPUTED or any dispute event is stored: the old
code cannot read those events, and deleting them would break the streams' hash chains.

The views' SQL is copied here from projections/ (a migration never reads a file that can
change after it was applied).

Revision ID: 2026_11_29_1500
Revises: 2026_11_29_1400
Create Date: 2026-11-29 15:00:00
"""

from __future__ import annotations

import re

from alembic import op

revision = "2026_11_29_1500"
down_revision = "2026_11_29_1400"
branch_labels = None
depends_on = None

TABLE = "football_skill_assessments"
OLD_STATUSES = "status IN ('NOT_ASSESSED', 'ASSESSED', 'VALIDATED', 'ARCHIVED')"
NEW_STATUSES = "status IN ('NOT_ASSESSED', 'ASSESSED', 'VALIDATED', 'DISPUTED', 'ARCHIVED')"
OLD_ACTIVE = "status IN ('ASSESSED', 'VALIDATED')"
NEW_ACTIVE = "status IN ('ASSESSED', 'VALIDATED', 'DISPUTED')"
DISPUTED_WHERE = "disputed_at IS NOT NULL"
COLUMNS = {
    "postgresql": (
        ("disputed_by", "bigint"),
        ("disputed_at", "timestamp with time zone"),
        ("dispute_reason", "text"),
        ("dispute_resolved_by", "bigint"),
        ("dispute_resolved_at", "timestamp with time zone"),
        ("dispute_outcome", "text"),
    ),
    "sqlite": (
        ("disputed_by", "INTEGER"),
        ("disputed_at", "TEXT"),
        ("dispute_reason", "TEXT"),
        ("dispute_resolved_by", "INTEGER"),
        ("dispute_resolved_at", "TEXT"),
        ("dispute_outcome", "TEXT"),
    ),
}
SETTINGS = (
    ("dispute_rate_alert_percent", "numeric(5,2)", "REAL", "20", "BETWEEN 0 AND 100"),
    ("open_disputes_alert", "integer", "INTEGER", "10", ">= 0"),
    ("open_disputes_alert_age_hours", "numeric(8,2)", "REAL", "72", "> 0"),
)
DISPUTE_TOPICS = (
    "skill_ledger.domain:SkillRecord.Disputed",
    "skill_ledger.domain:SkillRecord.DisputeResolved",
)
ANALYST = "ledger_analyst"
LOCK_TIMEOUT = "SET lock_timeout = '10s'"

# Frozen copies of projections/*.sql as they were when this revision was written.
DISPUTE_RATE_BY_INSTRUCTOR = """\
-- dispute_rate_by_instructor: per assessor, the assessments validated in the report window,
-- how many of them their holder disputed, the dispute rate in percent (one decimal), and
-- needs_training when the rate is above report_settings.dispute_rate_alert_percent.
-- Only users.id and users.name are read: never the password hash.
CREATE VIEW dispute_rate_by_instructor AS
SELECT r.instructor_id,
       u.name AS instructor_name,
       r.validated,
       r.disputed,
       ROUND(100.0 * r.disputed / r.validated, 1) AS dispute_rate,
       s.dispute_rate_alert_percent AS alert_rate_threshold,
       (100.0 * r.disputed / r.validated > s.dispute_rate_alert_percent) AS needs_training
FROM (
    SELECT a.assessed_by AS instructor_id,
           COUNT(*) AS validated,
           SUM(CASE WHEN a.disputed_at IS NOT NULL THEN 1 ELSE 0 END) AS disputed
    FROM football_skill_assessments AS a
    JOIN report_window AS w ON a.validated_at >= w.starts_at
    GROUP BY a.assessed_by
) AS r
CROSS JOIN report_settings AS s
LEFT JOIN users AS u ON u.id = r.instructor_id
ORDER BY dispute_rate DESC, r.instructor_id;
"""

DISPUTE_RESOLUTION_TIME_POSTGRESQL = """\
-- dispute_resolution_time: disputes resolved in the report window, per outcome: how many,
-- and the median and 90th percentile of the hours from dispute to resolution (nearest rank,
-- two decimals).
CREATE VIEW dispute_resolution_time AS
SELECT r.outcome,
       COUNT(*) AS resolved,
       ROUND(MIN(CASE WHEN r.pos >= (r.n + 1) / 2 THEN r.hours END), 2) AS median_hours,
       ROUND(MIN(CASE WHEN r.pos >= (9 * r.n + 9) / 10 THEN r.hours END), 2) AS p90_hours
FROM (
    SELECT a.dispute_outcome AS outcome,
           EXTRACT(EPOCH FROM a.dispute_resolved_at - a.disputed_at) / 3600 AS hours,
           ROW_NUMBER() OVER (
               PARTITION BY a.dispute_outcome ORDER BY a.dispute_resolved_at - a.disputed_at
           ) AS pos,
           COUNT(*) OVER (PARTITION BY a.dispute_outcome) AS n
    FROM football_skill_assessments AS a
    JOIN report_window AS w ON a.dispute_resolved_at >= w.starts_at
) AS r
GROUP BY r.outcome
ORDER BY r.outcome;
"""

DISPUTE_RESOLUTION_TIME_SQLITE = """\
-- dispute_resolution_time: disputes resolved in the report window, per outcome: how many,
-- and the median and 90th percentile of the hours from dispute to resolution (nearest rank,
-- two decimals).
CREATE VIEW dispute_resolution_time AS
SELECT r.outcome,
       COUNT(*) AS resolved,
       ROUND(MIN(CASE WHEN r.pos >= (r.n + 1) / 2 THEN r.hours END), 2) AS median_hours,
       ROUND(MIN(CASE WHEN r.pos >= (9 * r.n + 9) / 10 THEN r.hours END), 2) AS p90_hours
FROM (
    SELECT a.dispute_outcome AS outcome,
           (julianday(a.dispute_resolved_at) - julianday(a.disputed_at)) * 24 AS hours,
           ROW_NUMBER() OVER (
               PARTITION BY a.dispute_outcome
               ORDER BY julianday(a.dispute_resolved_at) - julianday(a.disputed_at)
           ) AS pos,
           COUNT(*) OVER (PARTITION BY a.dispute_outcome) AS n
    FROM football_skill_assessments AS a
    JOIN report_window AS w ON a.dispute_resolved_at >= w.starts_at
) AS r
GROUP BY r.outcome
ORDER BY r.outcome;
"""

OPEN_DISPUTES_POSTGRESQL = """\
-- open_disputes: one row: disputes waiting for an admin (status DISPUTED), the oldest of
-- them, its age in hours (two decimals), the alert thresholds from report_settings, and
-- alert = more open than the threshold or the oldest older than its threshold.
CREATE VIEW open_disputes AS
SELECT o.open_disputes,
       o.oldest_disputed_at,
       ROUND(o.oldest_age_hours, 2) AS oldest_age_hours,
       s.open_disputes_alert AS alert_open_threshold,
       s.open_disputes_alert_age_hours AS alert_age_hours_threshold,
       (o.open_disputes > s.open_disputes_alert
        OR COALESCE(o.oldest_age_hours > s.open_disputes_alert_age_hours, FALSE)) AS alert
FROM (
    SELECT COUNT(*) AS open_disputes,
           MIN(a.disputed_at) AS oldest_disputed_at,
           EXTRACT(EPOCH FROM now() - MIN(a.disputed_at)) / 3600 AS oldest_age_hours
    FROM football_skill_assessments AS a
    WHERE a.status = 'DISPUTED'
) AS o
CROSS JOIN report_settings AS s;
"""

OPEN_DISPUTES_SQLITE = """\
-- open_disputes: one row: disputes waiting for an admin (status DISPUTED), the oldest of
-- them, its age in hours (two decimals), the alert thresholds from report_settings, and
-- alert = more open than the threshold or the oldest older than its threshold.
CREATE VIEW open_disputes AS
SELECT o.open_disputes,
       o.oldest_disputed_at,
       ROUND(o.oldest_age_hours, 2) AS oldest_age_hours,
       s.open_disputes_alert AS alert_open_threshold,
       s.open_disputes_alert_age_hours AS alert_age_hours_threshold,
       (o.open_disputes > s.open_disputes_alert
        OR COALESCE(o.oldest_age_hours > s.open_disputes_alert_age_hours, FALSE)) AS alert
FROM (
    SELECT COUNT(*) AS open_disputes,
           MIN(a.disputed_at) AS oldest_disputed_at,
           (julianday('now') - julianday(MIN(a.disputed_at))) * 24 AS oldest_age_hours
    FROM football_skill_assessments AS a
    WHERE a.status = 'DISPUTED'
) AS o
CROSS JOIN report_settings AS s;
"""

VIEWS = (
    ("dispute_rate_by_instructor", DISPUTE_RATE_BY_INSTRUCTOR, DISPUTE_RATE_BY_INSTRUCTOR),
    (
        "dispute_resolution_time",
        DISPUTE_RESOLUTION_TIME_POSTGRESQL,
        DISPUTE_RESOLUTION_TIME_SQLITE,
    ),
    ("open_disputes", OPEN_DISPUTES_POSTGRESQL, OPEN_DISPUTES_SQLITE),
)


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if _postgres():
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()
    for _, postgresql_sql, sqlite_sql in VIEWS:
        op.execute(postgresql_sql if _postgres() else sqlite_sql)
    if _postgres():
        names = ", ".join(name for name, _, _ in VIEWS)
        op.execute(
            f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ANALYST}') THEN "
            f"GRANT SELECT ON {names} TO {ANALYST}; END IF; END $$"
        )


def _upgrade_postgresql() -> None:
    context = op.get_context()
    with context.autocommit_block():
        op.execute(LOCK_TIMEOUT)
        for name, kind in COLUMNS["postgresql"]:
            op.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
        for name, kind, _, default, check in SETTINGS:
            op.execute(
                f"ALTER TABLE report_settings ADD COLUMN IF NOT EXISTS {name} {kind} "
                f"NOT NULL DEFAULT {default} CONSTRAINT ck_report_settings_{name} "
                f"CHECK ({name} {check})"
            )
        # The new CHECK, checked for new rows at once and for old ones without blocking.
        op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS ck_skill_assessment_status_new")
        op.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT ck_skill_assessment_status_new "
            f"CHECK ({NEW_STATUSES}) NOT VALID"
        )
        op.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT ck_skill_assessment_status_new")
        op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS ck_skill_assessment_status")
        op.execute(
            f"ALTER TABLE {TABLE} RENAME CONSTRAINT ck_skill_assessment_status_new "
            "TO ck_skill_assessment_status"
        )
        # The active index, built beside the old one, then swapped in.
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS uq_skill_assessment_active_new")
        op.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY uq_skill_assessment_active_new "
            f"ON {TABLE} (user_license_id, skill_name) WHERE {NEW_ACTIVE}"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_skill_assessments_disputed")
        op.execute(
            "CREATE INDEX CONCURRENTLY ix_skill_assessments_disputed "
            f"ON {TABLE} (disputed_at) WHERE {DISPUTED_WHERE}"
        )
    op.execute(LOCK_TIMEOUT)
    op.execute("DROP INDEX uq_skill_assessment_active")
    op.execute("ALTER INDEX uq_skill_assessment_active_new RENAME TO uq_skill_assessment_active")


def _sqlite_rebuild(statuses: tuple[str, str], active: tuple[str, str]) -> None:
    """Rebuild the table with its CHECK changed, keeping every row, index and view."""
    bind = op.get_bind()
    (create,) = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).fetchone()
    indexes = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (TABLE,),
        ).fetchall()
    ]
    old, new = statuses
    assert old in create, f"{TABLE}'s CHECK is not the expected one"
    rebuilt = f"{TABLE}_rebuilt"
    create = re.sub(rf"^CREATE TABLE \"?{TABLE}\"?", f"CREATE TABLE {rebuilt}", create)
    op.execute(create.replace(old, new))
    op.execute(f"INSERT INTO {rebuilt} SELECT * FROM {TABLE}")
    op.execute(f"DROP TABLE {TABLE}")
    # The report views name the table: a legacy rename neither rewrites nor checks them.
    op.execute("PRAGMA legacy_alter_table = ON")
    op.execute(f"ALTER TABLE {rebuilt} RENAME TO {TABLE}")
    op.execute("PRAGMA legacy_alter_table = OFF")
    for sql in indexes:
        op.execute(sql.replace(active[0], active[1]))


def _upgrade_sqlite() -> None:
    for name, kind in COLUMNS["sqlite"]:
        op.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")
    for name, _, kind, default, check in SETTINGS:
        op.execute(
            f"ALTER TABLE report_settings ADD COLUMN {name} {kind} NOT NULL DEFAULT {default} "
            f"CONSTRAINT ck_report_settings_{name} CHECK ({name} {check})"
        )
    _sqlite_rebuild((OLD_STATUSES, NEW_STATUSES), (OLD_ACTIVE, NEW_ACTIVE))
    op.execute(
        f"CREATE INDEX ix_skill_assessments_disputed ON {TABLE} (disputed_at) "
        f"WHERE {DISPUTED_WHERE}"
    )


def _refuse_while_disputes_exist() -> None:
    bind = op.get_bind()
    events = "ledger_events" if _postgres() else "stored_events"
    mark = "%s" if _postgres() else "?"
    (recorded,) = bind.exec_driver_sql(
        f"SELECT COUNT(*) FROM {events} WHERE topic IN ({mark}, {mark})", DISPUTE_TOPICS
    ).fetchone()
    (disputed,) = bind.exec_driver_sql(
        f"SELECT COUNT(*) FROM {TABLE} WHERE status = 'DISPUTED' OR {DISPUTED_WHERE}"
    ).fetchone()
    if recorded or disputed:
        raise RuntimeError(
            f"Refusing to downgrade below {revision}: the ledger holds {recorded} dispute "
            f"events and {disputed} disputed assessments. The code before disputes cannot "
            "read those events, and deleting them would break their streams' hash chains. "
            "Restore a backup taken before the upgrade instead."
        )


def downgrade() -> None:
    _refuse_while_disputes_exist()
    for name, _, _ in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.execute("DROP INDEX IF EXISTS ix_skill_assessments_disputed")
    if _postgres():
        op.execute("DROP INDEX uq_skill_assessment_active")
        op.execute(
            "CREATE UNIQUE INDEX uq_skill_assessment_active "
            f"ON {TABLE} (user_license_id, skill_name) WHERE {OLD_ACTIVE}"
        )
        op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT ck_skill_assessment_status")
        op.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT ck_skill_assessment_status CHECK ({OLD_STATUSES})"
        )
        for name, _ in COLUMNS["postgresql"]:
            op.execute(f"ALTER TABLE {TABLE} DROP COLUMN {name}")
        for name, *_ in SETTINGS:
            op.execute(f"ALTER TABLE report_settings DROP COLUMN {name}")
        return
    for name, _ in COLUMNS["sqlite"]:
        op.execute(f"ALTER TABLE {TABLE} DROP COLUMN {name}")
    for name, *_ in SETTINGS:
        op.execute(f"ALTER TABLE report_settings DROP COLUMN {name}")
    _sqlite_rebuild((NEW_STATUSES, OLD_STATUSES), (NEW_ACTIVE, OLD_ACTIVE))

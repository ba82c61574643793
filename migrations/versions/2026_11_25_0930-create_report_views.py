"""create_report_views: report_settings and the analysts' report views

The views' SQL is copied here from projections/ (NAME.sql when both backends share it,
NAME.postgresql.sql and NAME.sqlite.sql where date arithmetic differs): a migration never
reads a file that can change after it was applied. report_settings holds the one row of
thresholds the views read.

Revision ID: 2026_11_25_0930
Revises: 2026_11_25_0920
Create Date: 2026-11-25 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2026_11_25_0930"
down_revision = "2026_11_25_0920"
branch_labels = None
depends_on = None

# Frozen copies of projections/*.sql as they were when this revision was written: a later
# change to a view is a new revision (tests/integration/test_migrations.py checks the latest
# revision's SQL against projections/).
REPORT_WINDOW_POSTGRESQL = """\
-- report_window: the period the windowed reports cover, in UTC days: today and the
-- (window_days - 1) days before it. starts_at is the first day's midnight, UTC.
CREATE VIEW report_window AS
SELECT s.window_days,
       (now() AT TIME ZONE 'UTC')::date - (s.window_days - 1) AS first_day,
       (now() AT TIME ZONE 'UTC')::date AS last_day,
       ((now() AT TIME ZONE 'UTC')::date - (s.window_days - 1))::timestamp AT TIME ZONE 'UTC'
           AS starts_at
FROM report_settings AS s;
"""

REPORT_WINDOW_SQLITE = """\
-- report_window: the period the windowed reports cover, in UTC days: today and the
-- (window_days - 1) days before it. starts_at is the first day's midnight, UTC, in the
-- ledger's one textual time form (YYYY-MM-DDTHH:MM:SS.ffffffZ), so it compares as text.
CREATE VIEW report_window AS
SELECT s.window_days,
       date('now', printf('-%d days', s.window_days - 1)) AS first_day,
       date('now') AS last_day,
       date('now', printf('-%d days', s.window_days - 1)) || 'T00:00:00.000000Z' AS starts_at
FROM report_settings AS s;
"""

DAILY_ASSESSMENT_RATE_POSTGRESQL = """\
-- daily_assessment_rate: assessments created per UTC day of the report window, newest day
-- first, with the distinct licenses (students) and assessors involved. Days without any
-- assessment show zeros. Archived assessments count: each row is one assessment created.
CREATE VIEW daily_assessment_rate AS
SELECT d.day::date AS date,
       COUNT(a.id) AS assessments_created,
       COUNT(DISTINCT a.user_license_id) AS unique_students,
       COUNT(DISTINCT a.assessed_by) AS unique_instructors
FROM report_window AS w
CROSS JOIN LATERAL generate_series(
    w.first_day::timestamp, w.last_day::timestamp, interval '1 day'
) AS d(day)
LEFT JOIN football_skill_assessments AS a
       ON a.assessed_at >= d.day AT TIME ZONE 'UTC'
      AND a.assessed_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
GROUP BY d.day
ORDER BY d.day DESC;
"""

DAILY_ASSESSMENT_RATE_SQLITE = """\
-- daily_assessment_rate: assessments created per UTC day of the report window, newest day
-- first, with the distinct licenses (students) and assessors involved. Days without any
-- assessment show zeros. Archived assessments count: each row is one assessment created.
CREATE VIEW daily_assessment_rate AS
WITH RECURSIVE days(day) AS (
    SELECT first_day FROM report_window
    UNION ALL
    SELECT date(day, '+1 day') FROM days WHERE day < (SELECT last_day FROM report_window)
)
SELECT d.day AS date,
       COUNT(a.id) AS assessments_created,
       COUNT(DISTINCT a.user_license_id) AS unique_students,
       COUNT(DISTINCT a.assessed_by) AS unique_instructors
FROM days AS d
LEFT JOIN football_skill_assessments AS a
       ON a.assessed_at >= d.day || 'T00:00:00.000000Z'
      AND a.assessed_at < date(d.day, '+1 day') || 'T00:00:00.000000Z'
GROUP BY d.day
ORDER BY d.day DESC;
"""

VALIDATION_REQUIREMENT_DISTRIBUTION = """\
-- validation_requirement_distribution: how many assessments created in the report window
-- needed an admin's validation, and their share in percent (one decimal).
CREATE VIEW validation_requirement_distribution AS
SELECT a.requires_validation,
       COUNT(*) AS count,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS percentage
FROM football_skill_assessments AS a
JOIN report_window AS w ON a.assessed_at >= w.starts_at
GROUP BY a.requires_validation
ORDER BY a.requires_validation DESC;
"""

STATE_DISTRIBUTION = """\
-- state_distribution: every assessment ever recorded by its current status, with its share
-- in percent (one decimal). Not windowed. NOT_ASSESSED never appears (transient state).
CREATE VIEW state_distribution AS
SELECT a.status,
       COUNT(*) AS count,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS percentage
FROM football_skill_assessments AS a
GROUP BY a.status
ORDER BY count DESC, a.status;
"""

SKILL_ACTIVITY = """\
-- skill_activity: active (ASSESSED or VALIDATED) assessments created in the report window,
-- per skill: how many, their average percentage (two decimals), and distinct licenses.
CREATE VIEW skill_activity AS
SELECT a.skill_name,
       COUNT(*) AS total_assessments,
       ROUND(AVG(a.percentage), 2) AS avg_percentage,
       COUNT(DISTINCT a.user_license_id) AS unique_students
FROM football_skill_assessments AS a
JOIN report_window AS w ON a.assessed_at >= w.starts_at
WHERE a.status IN ('ASSESSED', 'VALIDATED')
GROUP BY a.skill_name
ORDER BY total_assessments DESC, a.skill_name;
"""

INSTRUCTOR_ACTIVITY = """\
-- instructor_activity: assessments created in the report window per assessor (archived ones
-- included), the average score they gave (two decimals) and how many needed validation.
-- Only users.id and users.name are read: never the password hash.
CREATE VIEW instructor_activity AS
SELECT a.assessed_by AS instructor_id,
       u.name AS instructor_name,
       COUNT(*) AS assessments_created,
       ROUND(AVG(a.percentage), 2) AS avg_score_given,
       SUM(CASE WHEN a.requires_validation THEN 1 ELSE 0 END) AS validation_required_count
FROM football_skill_assessments AS a
JOIN report_window AS w ON a.assessed_at >= w.starts_at
LEFT JOIN users AS u ON u.id = a.assessed_by
GROUP BY a.assessed_by, u.name
ORDER BY assessments_created DESC, instructor_id;
"""

VALIDATION_BACKLOG_POSTGRESQL = """\
-- validation_backlog: one row: assessments waiting for an admin (ASSESSED and requiring
-- validation), the oldest and newest of them, the oldest's age in hours (two decimals),
-- the alert thresholds from report_settings, and alert = more pending than the threshold
-- or the oldest older than its threshold.
CREATE VIEW validation_backlog AS
SELECT b.pending_validation,
       b.oldest_pending,
       b.newest_pending,
       ROUND(b.oldest_age_hours, 2) AS oldest_age_hours,
       s.backlog_alert_pending AS alert_pending_threshold,
       s.backlog_alert_age_hours AS alert_age_hours_threshold,
       (b.pending_validation > s.backlog_alert_pending
        OR COALESCE(b.oldest_age_hours > s.backlog_alert_age_hours, FALSE)) AS alert
FROM (
    SELECT COUNT(*) AS pending_validation,
           MIN(a.assessed_at) AS oldest_pending,
           MAX(a.assessed_at) AS newest_pending,
           EXTRACT(EPOCH FROM now() - MIN(a.assessed_at)) / 3600 AS oldest_age_hours
    FROM football_skill_assessments AS a
    WHERE a.status = 'ASSESSED' AND a.requires_validation
) AS b
CROSS JOIN report_settings AS s;
"""

VALIDATION_BACKLOG_SQLITE = """\
-- validation_backlog: one row: assessments waiting for an admin (ASSESSED and requiring
-- validation), the oldest and newest of them, the oldest's age in hours (two decimals),
-- the alert thresholds from report_settings, and alert = more pending than the threshold
-- or the oldest older than its threshold.
CREATE VIEW validation_backlog AS
SELECT b.pending_validation,
       b.oldest_pending,
       b.newest_pending,
       ROUND(b.oldest_age_hours, 2) AS oldest_age_hours,
       s.backlog_alert_pending AS alert_pending_threshold,
       s.backlog_alert_age_hours AS alert_age_hours_threshold,
       (b.pending_validation > s.backlog_alert_pending
        OR COALESCE(b.oldest_age_hours > s.backlog_alert_age_hours, FALSE)) AS alert
FROM (
    SELECT COUNT(*) AS pending_validation,
           MIN(a.assessed_at) AS oldest_pending,
           MAX(a.assessed_at) AS newest_pending,
           (julianday('now') - julianday(MIN(a.assessed_at))) * 24 AS oldest_age_hours
    FROM football_skill_assessments AS a
    WHERE a.status = 'ASSESSED' AND a.requires_validation
) AS b
CROSS JOIN report_settings AS s;
"""

# Creation order: report_window first, the views built on it after.
VIEWS = (
    ("report_window", REPORT_WINDOW_POSTGRESQL, REPORT_WINDOW_SQLITE),
    ("daily_assessment_rate", DAILY_ASSESSMENT_RATE_POSTGRESQL, DAILY_ASSESSMENT_RATE_SQLITE),
    (
        "validation_requirement_distribution",
        VALIDATION_REQUIREMENT_DISTRIBUTION,
        VALIDATION_REQUIREMENT_DISTRIBUTION,
    ),
    ("state_distribution", STATE_DISTRIBUTION, STATE_DISTRIBUTION),
    ("skill_activity", SKILL_ACTIVITY, SKILL_ACTIVITY),
    ("instructor_activity", INSTRUCTOR_ACTIVITY, INSTRUCTOR_ACTIVITY),
    ("validation_backlog", VALIDATION_BACKLOG_POSTGRESQL, VALIDATION_BACKLOG_SQLITE),
)


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
    postgres = op.get_bind().dialect.name == "postgresql"
    for _, postgresql_sql, sqlite_sql in VIEWS:
        op.execute(postgresql_sql if postgres else sqlite_sql)


def downgrade() -> None:
    for name, _, _ in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("report_settings")

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

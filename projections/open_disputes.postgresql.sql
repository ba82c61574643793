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

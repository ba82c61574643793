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

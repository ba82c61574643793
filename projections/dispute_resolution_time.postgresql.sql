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

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

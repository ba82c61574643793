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

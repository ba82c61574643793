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

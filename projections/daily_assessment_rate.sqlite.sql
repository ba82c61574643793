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

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

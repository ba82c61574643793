-- state_distribution: every assessment ever recorded by its current status, with its share
-- in percent (one decimal). Not windowed. NOT_ASSESSED never appears (transient state).
CREATE VIEW state_distribution AS
SELECT a.status,
       COUNT(*) AS count,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS percentage
FROM football_skill_assessments AS a
GROUP BY a.status
ORDER BY count DESC, a.status;

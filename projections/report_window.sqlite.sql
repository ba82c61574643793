-- report_window: the period the windowed reports cover, in UTC days: today and the
-- (window_days - 1) days before it. starts_at is the first day's midnight, UTC, in the
-- ledger's one textual time form (YYYY-MM-DDTHH:MM:SS.ffffffZ), so it compares as text.
CREATE VIEW report_window AS
SELECT s.window_days,
       date('now', printf('-%d days', s.window_days - 1)) AS first_day,
       date('now') AS last_day,
       date('now', printf('-%d days', s.window_days - 1)) || 'T00:00:00.000000Z' AS starts_at
FROM report_settings AS s;

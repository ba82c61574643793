-- report_window: the period the windowed reports cover, in UTC days: today and the
-- (window_days - 1) days before it. starts_at is the first day's midnight, UTC.
CREATE VIEW report_window AS
SELECT s.window_days,
       (now() AT TIME ZONE 'UTC')::date - (s.window_days - 1) AS first_day,
       (now() AT TIME ZONE 'UTC')::date AS last_day,
       ((now() AT TIME ZONE 'UTC')::date - (s.window_days - 1))::timestamp AT TIME ZONE 'UTC'
           AS starts_at
FROM report_settings AS s;

-- What the UI reads without scanning every run or event (issue 12):
-- runs by `updated_at`, the change marker every status write sets (insert, claim, release,
-- finish, replay): the live run stream reads the runs changed since its cursor, the dashboard
-- counts the runs finished per time bucket;
-- events by when they arrived: webhook intake per time bucket;
-- events by type, newest first: the last real event of a trigger, as a mapping's sample.
CREATE INDEX runs_by_update ON runs (updated_at);
CREATE INDEX events_by_arrival ON events (received_at);
CREATE INDEX events_by_type ON events (event_type, received_at);

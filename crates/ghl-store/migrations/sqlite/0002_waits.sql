-- Times a run paused on a delay step: a wait is not a failed attempt, so it does not count
-- towards the retry limit.
ALTER TABLE runs ADD COLUMN waits INTEGER NOT NULL DEFAULT 0;

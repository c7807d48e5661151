-- A claim costs the same however many runs wait or are finished (issue 9, point 11).
-- The old (status, run_after) index held every run, and the claim's
-- `(queued or waiting and due) or (running and lease expired)` could not walk it in order.
-- Now what is claimable is an index of its own, by when it is due, holding no finished run;
-- expired leases are found apart, among the running runs only, by when their lease ends.
DROP INDEX runs_claimable;
CREATE INDEX runs_due ON runs (run_after) WHERE status IN ('queued', 'waiting');
CREATE INDEX runs_leased ON runs (locked_until) WHERE status = 'running';
-- Listing runs of one status, newest first, and counting runs per status.
CREATE INDEX runs_by_status ON runs (status, created_at);

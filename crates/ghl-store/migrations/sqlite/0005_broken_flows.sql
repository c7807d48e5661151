-- Why a stored flow cannot be loaded (it was stored before a check that now refuses it):
-- NULL when it loads. A broken flow is skipped, never a reason not to start.
ALTER TABLE flows ADD COLUMN broken TEXT;

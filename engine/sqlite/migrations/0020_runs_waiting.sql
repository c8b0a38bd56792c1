-- Runs waiting for a decision or under way, by playbook: every journey
-- pass asks whether one of its journey's passes is held or being approved
-- (JourneyWaiting), and a journey records a run for every pass that does
-- something, so its runs grow by the thousand.
CREATE INDEX runs_waiting ON runs (playbook) WHERE status IN ('held', 'running');

-- The playbook file a run evaluated (an absolute path), so that `koi
-- approve RUN` loads the playbook from where the run found it, not from
-- wherever the approver's configuration points (issue 19).
ALTER TABLE runs ADD COLUMN file TEXT NOT NULL DEFAULT '';

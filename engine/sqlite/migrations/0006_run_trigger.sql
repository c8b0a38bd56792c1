-- What started a run: manual (koi run, the API), schedule, or late (a
-- scheduled run made up for after downtime).
ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual';

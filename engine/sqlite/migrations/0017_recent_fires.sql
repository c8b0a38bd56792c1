-- Fires live in two tables (issue 23): fires_recent takes every new fire,
-- fires_archive holds those written more than a day ago (archive.go moves
-- them over when writes pause), and the view fires reads both as one.
--
-- Each table keeps the unique keys (playbook, rule, customer_id, seq) and
-- (grp, customer_id, gseq). A run inserts only into fires_recent, whose
-- keys are a day's fires: when the one table held a year of history (ten
-- million fires at a million customers), each new fire's key landed on a
-- page of its own in a b-tree of 600 MB, and a run wrote four times the
-- log and took 2.3 times as long as on a fresh pond (koi bench).
--
-- A fire still happens once. A run decides from fire history read as it
-- starts, and its writes collide in fires_recent with any fire committed
-- since, which is younger than a day. Approving a held run checks what it
-- releases against the history as of the approval (engine/approve.go),
-- however long it was held.
ALTER TABLE fires RENAME TO fires_archive;

CREATE TABLE fires_recent (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    playbook    TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    variant     TEXT    NOT NULL DEFAULT '',
    grp         TEXT,
    gseq        INTEGER,
    -- When the fire was written (unix ms, the clock's, not the run's
    -- time): what decides when it moves to fires_archive.
    written_at  INTEGER NOT NULL,
    UNIQUE (playbook, rule, customer_id, seq)
) STRICT;
CREATE UNIQUE INDEX fires_recent_group ON fires_recent (grp, customer_id, gseq) WHERE grp IS NOT NULL;

CREATE VIEW fires AS
    SELECT id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq FROM fires_archive
    UNION ALL
    SELECT id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq FROM fires_recent;

-- The last day's fires move back, so that the guard holds from the first
-- run on; their time stands in for when they were written.
INSERT INTO fires_recent (id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq, written_at)
    SELECT id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq, at
    FROM fires_archive WHERE at > (unixepoch() - 86400) * 1000;
DELETE FROM fires_archive WHERE id IN (SELECT id FROM fires_recent);

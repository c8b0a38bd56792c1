-- journey_state again, its rows and indexes unchanged, with the status
-- check written as comparisons. SQLite codes `status IN (three constants)`
-- in a CHECK by building a temporary b-tree of the three, anew for every
-- row an insert or update checks (two or fewer it compares directly), and
-- moving a journey's entries on sets the status: BenchmarkAdvanceJourneys
-- took 7.0 µs a move with it, 6.5 without. The check allows the same
-- values. The copy is one statement, run once: about 2 s a million
-- entries on the development machine (the log says how long it took).
CREATE TABLE journey_state_new (
    journey     TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    entry       INTEGER NOT NULL CHECK (entry >= 1),
    entered_at  INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    -- The step due next and when; '' and NULL once the journey ended.
    next_step   TEXT    NOT NULL DEFAULT '',
    due_at      INTEGER,
    status      TEXT    NOT NULL CHECK (status = 'entered' OR status = 'exited' OR status = 'completed'),
    holdout     INTEGER NOT NULL DEFAULT 0 CHECK (holdout IN (0, 1)),
    ended_at    INTEGER,
    CHECK ((status = 'entered') = (due_at IS NOT NULL AND next_step != '' AND ended_at IS NULL)),
    PRIMARY KEY (journey, customer_id, entry)
) STRICT, WITHOUT ROWID;
INSERT INTO journey_state_new (journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at)
    SELECT journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at FROM journey_state;
DROP TABLE journey_state;
ALTER TABLE journey_state_new RENAME TO journey_state;
-- The steps due, in the order they came due (and of customer: the index
-- holds the table's key).
CREATE INDEX journey_state_due ON journey_state (journey, due_at) WHERE status = 'entered';
-- A customer's journeys, for the customer's page and their deletion.
CREATE INDEX journey_state_customer ON journey_state (customer_id);

-- Journeys (issue 25, DESIGN §3b): where each customer is in each
-- journey, one row per (journey, customer, entry): a customer's latest
-- entry is where they are, the earlier ones their history (reports compare
-- the entries treated with those held out).
--
-- A step fires at most once per (journey, customer, entry, step): its fire
-- is keyed (playbook, rule, customer_id, seq) = (journey, step, customer,
-- entry), and in the fire's transaction the row moves past the step only
-- from that step (journeys.go, AdvanceJourney), so a racing process that
-- read the same step finds it taken and writes nothing.
CREATE TABLE journey_state (
    journey     TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    entry       INTEGER NOT NULL CHECK (entry >= 1),
    entered_at  INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    -- The step due next and when; '' and NULL once the journey ended.
    next_step   TEXT    NOT NULL DEFAULT '',
    due_at      INTEGER,
    status      TEXT    NOT NULL CHECK (status IN ('entered', 'exited', 'completed')),
    holdout     INTEGER NOT NULL DEFAULT 0 CHECK (holdout IN (0, 1)),
    ended_at    INTEGER,
    CHECK ((status = 'entered') = (due_at IS NOT NULL AND next_step != '' AND ended_at IS NULL)),
    PRIMARY KEY (journey, customer_id, entry)
) STRICT, WITHOUT ROWID;
-- The steps due, in the order they came due (and of customer: the index
-- holds the table's key).
CREATE INDEX journey_state_due ON journey_state (journey, due_at) WHERE status = 'entered';
-- A customer's journeys, for the customer's page and their deletion.
CREATE INDEX journey_state_customer ON journey_state (customer_id);

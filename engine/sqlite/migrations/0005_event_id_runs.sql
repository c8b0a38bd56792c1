-- Event ids stay unique without a unique index on events.
--
-- A unique index on a random id (most senders use UUIDs) costs every
-- ingested event a write to a random leaf of a b-tree that, at ten million
-- events, no cache holds: one page per event in the write-ahead log, and
-- again at the checkpoint. It held durable batch ingest to about 44,000
-- events/s at 1M customers; the same inserts without it ran at 117,000/s.
--
-- Instead the ids live in sorted runs, log-structured: events are appended
-- by seq; the ids of the newest events (the tail, seq after the last run)
-- are kept in memory; in the background a compactor writes the tail's ids,
-- sorted, into a new table event_ids_<run>, and merges runs of one size
-- into a bigger one. Sorted writes append to a b-tree instead of dirtying
-- random pages. Each run has a Bloom filter, so checking a new id rarely
-- reads a run at all. See eventids.go.
CREATE TABLE events_new (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    amount_fen  INTEGER NOT NULL DEFAULT 0,
    order_id    TEXT    NOT NULL DEFAULT '',
    code        TEXT    NOT NULL DEFAULT '',
    attrs       TEXT
) STRICT;
INSERT INTO events_new (seq, id, customer_id, type, at, amount_fen, order_id, code, attrs)
    SELECT rowid, id, customer_id, type, at, amount_fen, order_id, code, attrs FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

-- One row per run: the seq range of the events whose ids it holds, and its
-- Bloom filter (NULL: built from the run when the database opens).
CREATE TABLE event_id_runs (
    run       INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    ids       INTEGER NOT NULL,
    bloom     BLOB
) STRICT;

-- generation moves whenever the runs change or ids are forgotten, so that
-- every open database (another process, say) knows to reload them;
-- forgets moves only when ids are forgotten, which voids a run being built.
CREATE TABLE event_id_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    forgets    INTEGER NOT NULL
) STRICT;
INSERT INTO event_id_state (id, generation, forgets) VALUES (1, 1, 0);

-- The ids already stored become the first run. In an empty database the
-- table stays unregistered, and the compactor drops it.
CREATE TABLE event_ids_1 (id TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO event_ids_1 (id) SELECT id FROM events ORDER BY id;
INSERT INTO event_id_runs (run, first_seq, last_seq, ids)
    SELECT 1, min(seq), max(seq), count(*) FROM events HAVING count(*) > 0;

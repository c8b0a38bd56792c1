-- The highest seq an event has had. SQLite gives a new row the highest
-- rowid plus one, so deleting the newest events (a customer deleted) made
-- the next event take a seq already used: one the trigger cursor had passed
-- (the event never answered), or one inside a run of event ids. Deleting
-- events records the highest seq first; new events take seqs after it.
ALTER TABLE event_id_state ADD COLUMN high_seq INTEGER NOT NULL DEFAULT 0;
UPDATE event_id_state SET high_seq = (SELECT coalesce(max(seq), 0) FROM events) WHERE id = 1;

-- Event-triggered rules run for the events after this seq. The cursor moves
-- only after their fires commit, so a crash re-runs the triggers of the
-- last events, and the fire key makes that fire nothing twice.
CREATE TABLE trigger_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
) STRICT;

-- /readyz writes here: a database that can be read but not written (a
-- full disk, a read-only file) is not ready (issue 20).
CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
) STRICT;

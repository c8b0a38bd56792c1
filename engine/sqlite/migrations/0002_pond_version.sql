-- pond_version counts committed changes to what profiles are computed from:
-- customers, events and coupons. The engine keeps the pond in memory and
-- reloads it only when the version moved under it, that is, when another
-- process (koi import, a second server) wrote to the database.
CREATE TABLE pond_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO pond_version (id, version) VALUES (1, 1);

-- A database's identity: random, made once, kept by copies and backups of
-- it. The pond image (koi.db.pond) names the identity and pond version it
-- reflects; a version number alone could match another database's put in
-- place of this one (a restore from elsewhere).
CREATE TABLE database_identity (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BLOB    NOT NULL
) STRICT;
INSERT INTO database_identity (id, value) VALUES (1, randomblob(16));

-- Who saved which content of a playbook file, and when: the console's
-- editor records each save it makes (the file is the truth of what runs;
-- this is its history of hands).
CREATE TABLE playbook_saves (
    id       INTEGER PRIMARY KEY,
    file     TEXT    NOT NULL,
    hash     TEXT    NOT NULL,
    saved_by TEXT    NOT NULL,
    saved_at INTEGER NOT NULL
) STRICT;
CREATE INDEX playbook_saves_file ON playbook_saves (file, id);

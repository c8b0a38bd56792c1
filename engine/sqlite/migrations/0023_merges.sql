-- Merges (issue 26, DESIGN §11): when a record links two customers (one
-- phone on two ids), the younger is merged into the older. Its id stays
-- an alias of the survivor, so that records still keyed by it land on
-- the survivor; the merge itself is recorded for operators.
CREATE TABLE merges (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    survivor TEXT    NOT NULL,
    merged   TEXT    NOT NULL,
    -- The identity that linked them (kind, value) and where the record
    -- came from (the API, an import file, a WeCom callback).
    kind     TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    source   TEXT    NOT NULL DEFAULT '',
    -- What moved over, as JSON counts: events, fires, coupons …
    moved    TEXT    NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX merges_survivor ON merges (survivor);
CREATE INDEX merges_merged ON merges (merged);

-- Every merged id, pointing at the customer it is now (chains are
-- flattened as they form: an alias never points at another alias).
CREATE TABLE customer_aliases (
    alias       TEXT    NOT NULL PRIMARY KEY,
    customer_id TEXT    NOT NULL,
    merge_id    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX customer_aliases_customer ON customer_aliases (customer_id);

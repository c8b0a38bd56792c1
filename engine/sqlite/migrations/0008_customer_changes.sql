-- Tags and tiers that fires set are appended here, not written into the
-- customers rows. A run's fires touch customers scattered over the whole
-- table: at a million customers, tagging twenty thousand of them dirtied
-- some fifteen thousand pages, 60 MB of write-ahead log on the path a run
-- waits for, a third of the bench's evaluation time. Appended rows fill a
-- few hundred pages instead.
--
-- A customer's tier and tags are the latest change's, where it sets them,
-- else the customers row's: customers_now reads them so. In the
-- background, once writes pause, the oldest changes are folded into the
-- customers rows and deleted (changes.go); folding changes nothing anyone
-- reads, so it leaves the pond version alone. Replacing a customer
-- (PUT, import) or deleting one removes their changes.
CREATE TABLE customer_changes (
    seq         INTEGER PRIMARY KEY,
    customer_id TEXT    NOT NULL,
    tier        TEXT,             -- NULL: unchanged
    tags        TEXT,             -- JSON array; NULL: unchanged
    at          INTEGER NOT NULL
) STRICT;
CREATE INDEX customer_changes_customer ON customer_changes (customer_id, seq);

-- customers as they are now, changes applied: what to read one customer,
-- or a few, from SQL. (The pond applies the changes itself, in one pass.)
CREATE VIEW customers_now AS
SELECT c.id, c.name, c.phone, c.email, c.wecom_id,
       coalesce((SELECT x.tier FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.tier IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.tier) AS tier,
       coalesce((SELECT x.tags FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.tags IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.tags) AS tags,
       c.attrs, c.member, c.joined_at, c.birthday, c.guide,
       max(c.updated_at, coalesce((SELECT max(x.at) FROM customer_changes x WHERE x.customer_id = c.id), 0)) AS updated_at
FROM customers c;

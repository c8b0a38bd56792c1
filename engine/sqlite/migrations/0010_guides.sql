-- Guides (导购) and their follow-up tasks. assign_guide changes a
-- customer's guide the way fires change tags and tiers: through
-- customer_changes (migration 0008), folded into the row later.
ALTER TABLE customer_changes ADD COLUMN guide TEXT; -- NULL: unchanged

DROP VIEW customers_now;
CREATE VIEW customers_now AS
SELECT c.id, c.name, c.phone, c.email, c.wecom_id,
       coalesce((SELECT x.tier FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.tier IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.tier) AS tier,
       coalesce((SELECT x.tags FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.tags IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.tags) AS tags,
       c.attrs, c.member, c.joined_at, c.birthday,
       coalesce((SELECT x.guide FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.guide IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.guide) AS guide,
       c.opt_out,
       max(c.updated_at, coalesce((SELECT max(x.at) FROM customer_changes x WHERE x.customer_id = c.id), 0)) AS updated_at
FROM customers c;

-- A task is written in its fire's transaction; key (the fire's key and
-- the action's index) keeps a re-run from creating it twice. Open tasks
-- are a guide's load, which least_loaded assignment reads.
CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    guide       TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    fire_id     INTEGER NOT NULL DEFAULT 0,
    playbook    TEXT    NOT NULL DEFAULT '',
    rule        TEXT    NOT NULL DEFAULT '',
    note        TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'open',
    created_at  INTEGER NOT NULL,
    done_at     INTEGER
) STRICT;
CREATE INDEX tasks_guide ON tasks (guide, state, id);
CREATE INDEX tasks_customer ON tasks (customer_id);

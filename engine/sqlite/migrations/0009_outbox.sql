-- Channels a customer opted out of (JSON array of channel names). Opt-out
-- is absolute: the dispatcher reads it before every delivery.
ALTER TABLE customers ADD COLUMN opt_out TEXT NOT NULL DEFAULT '[]';

DROP VIEW customers_now;
CREATE VIEW customers_now AS
SELECT c.id, c.name, c.phone, c.email, c.wecom_id,
       coalesce((SELECT x.tier FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.tier IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.tier) AS tier,
       coalesce((SELECT x.tags FROM customer_changes x
                 WHERE x.customer_id = c.id AND x.tags IS NOT NULL ORDER BY x.seq DESC LIMIT 1), c.tags) AS tags,
       c.attrs, c.member, c.joined_at, c.birthday, c.guide, c.opt_out,
       max(c.updated_at, coalesce((SELECT max(x.at) FROM customer_changes x WHERE x.customer_id = c.id), 0)) AS updated_at
FROM customers c;

-- The outbox: remote work (messages, webhooks, plugin calls) written in the
-- fire's transaction, delivered by the dispatcher after it commits. A fire
-- and its jobs exist together or not at all; a job is delivered at least
-- once, and its key, the same on every attempt, lets the receiver drop
-- repeats.
--
-- state: pending (waiting for run_at), done, dead (attempts exhausted or a
-- permanent error; last_error says which), cancelled (by an operator, or
-- its customer was deleted), skipped (consent: the customer opted out of
-- the channel). Only pending jobs are ever picked up.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    key          TEXT    NOT NULL UNIQUE,
    kind         TEXT    NOT NULL,
    channel      TEXT    NOT NULL DEFAULT '',
    fire_id      INTEGER NOT NULL DEFAULT 0,
    playbook     TEXT    NOT NULL DEFAULT '',
    rule         TEXT    NOT NULL DEFAULT '',
    customer_id  TEXT    NOT NULL DEFAULT '',
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_error   TEXT    NOT NULL DEFAULT ''
) STRICT;
-- What the dispatcher polls: pending jobs by due time. Partial, so done
-- jobs cost it nothing.
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_customer ON jobs (customer_id);

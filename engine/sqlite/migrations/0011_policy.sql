-- Contact policy, A/B variants, held-run approvals and the coupon
-- lifecycle (issue 6).

-- Every message a fire sends a customer, at the moment it is due (after
-- quiet hours or a deferred cap). Frequency caps count these; so do the
-- profile's last_contact_days and contacts_7d. Written in the fire's
-- transaction, like the message's job.
CREATE TABLE contacts (
    customer_id TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    fire_id     INTEGER NOT NULL
) STRICT;
CREATE INDEX contacts_customer ON contacts (customer_id, at);

-- The variant of a rule's A/B test a fire took ('' when the rule has none).
ALTER TABLE fires ADD COLUMN variant TEXT NOT NULL DEFAULT '';

-- A run the blast guard held keeps what it computed, so that an approval
-- releases exactly that: one row per would-be fire (or holdout).
CREATE TABLE held_fires (
    run_id      INTEGER NOT NULL,
    rule        TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    holdout     INTEGER NOT NULL,
    variant     TEXT    NOT NULL DEFAULT '',
    deliver_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX held_fires_run ON held_fires (run_id);

-- Who decided about a held run, and when; and when it lapses undecided.
ALTER TABLE runs ADD COLUMN expires_at INTEGER;
ALTER TABLE runs ADD COLUMN decided_by TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN decided_at INTEGER;

-- Coupons: status becomes open, redeemed or expired as things happen
-- (redeemed_at and order_id say by which order); the profile still
-- derives status at any moment from events, so a report of the past
-- stays right.
CREATE INDEX coupons_fire ON coupons (fire_id) WHERE fire_id IS NOT NULL;
CREATE INDEX coupons_open_expiry ON coupons (expires_at) WHERE status = 'open';

-- Times are unix milliseconds; money is fen.
CREATE TABLE customers (
    id         TEXT PRIMARY KEY,
    name       TEXT    NOT NULL DEFAULT '',
    phone      TEXT    NOT NULL DEFAULT '',
    email      TEXT    NOT NULL DEFAULT '',
    wecom_id   TEXT    NOT NULL DEFAULT '',
    tier       TEXT    NOT NULL DEFAULT '',
    tags       TEXT    NOT NULL DEFAULT '[]',
    attrs      TEXT    NOT NULL DEFAULT '{}',
    member     INTEGER NOT NULL DEFAULT 0,
    joined_at  INTEGER NOT NULL,
    birthday   TEXT    NOT NULL DEFAULT '',
    guide      TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    amount_fen  INTEGER NOT NULL DEFAULT 0,
    order_id    TEXT    NOT NULL DEFAULT '',
    code        TEXT    NOT NULL DEFAULT '',
    attrs       TEXT
) STRICT;
CREATE INDEX events_customer_at ON events (customer_id, at);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    playbook    TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    status      TEXT    NOT NULL,
    audience    INTEGER NOT NULL DEFAULT 0,
    matched     INTEGER NOT NULL DEFAULT 0,
    fired       INTEGER NOT NULL DEFAULT 0,
    limit_fires INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX runs_playbook ON runs (playbook, id);

CREATE TABLE run_rules (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    rule        TEXT    NOT NULL,
    matched     INTEGER NOT NULL,
    fired       INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    first_error TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, rule)
) STRICT;

CREATE TABLE run_suppressions (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    rule   TEXT    NOT NULL,
    reason TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (run_id, rule, reason)
) STRICT;

-- A fire is unique per rule, customer and cooldown period (seq): this is
-- what makes a re-run after a crash, or two racing runs, fire nothing twice.
CREATE TABLE fires (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    playbook    TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    UNIQUE (playbook, rule, customer_id, seq)
) STRICT;
CREATE INDEX fires_run ON fires (run_id);
CREATE INDEX fires_customer ON fires (customer_id);

CREATE TABLE coupons (
    code          TEXT PRIMARY KEY,
    customer_id   TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    fire_id       INTEGER,
    amount_fen    INTEGER NOT NULL CHECK (amount_fen > 0),
    min_spend_fen INTEGER NOT NULL CHECK (min_spend_fen >= 0),
    issued_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'open',
    redeemed_at   INTEGER,
    order_id      TEXT
) STRICT;
CREATE INDEX coupons_customer ON coupons (customer_id);

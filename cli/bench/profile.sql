-- The profile of DESIGN §2 in SQL, the way a team with cron and SQL would
-- compute it: a nightly job materialises the profile into tables, then
-- each rule is one SELECT over them (rules.sql). {{now}} is the evaluation
-- time in unix ms, {{day}} a day in ms. koi bench times these statements
-- and the twenty queries together. Order ids are unique in the demo pond,
-- so an order is one row.

DROP TABLE IF EXISTS temp.b_refunds;
DROP TABLE IF EXISTS temp.b_orders;
DROP TABLE IF EXISTS temp.b_agg;
DROP TABLE IF EXISTS temp.b_ev;
DROP TABLE IF EXISTS temp.b_base;
DROP TABLE IF EXISTS temp.b_scored;
DROP TABLE IF EXISTS temp.bench_profile;

CREATE TEMP TABLE b_refunds AS
SELECT customer_id, iif(order_id = '', id, order_id) AS k, sum(amount_fen) AS refunded
FROM events WHERE type = 'refund' AND at <= {{now}} GROUP BY 1, 2;
CREATE INDEX temp.b_refunds_k ON b_refunds (customer_id, k);

-- Orders net of refunds; an order refunded in full is no longer an order.
CREATE TEMP TABLE b_orders AS
SELECT o.customer_id, o.at, o.amount_fen - coalesce(r.refunded, 0) AS net
FROM events AS o
LEFT JOIN b_refunds AS r ON r.customer_id = o.customer_id AND r.k = iif(o.order_id = '', o.id, o.order_id)
WHERE o.type = 'order' AND o.at <= {{now}}
  AND (coalesce(r.refunded, 0) = 0 OR r.refunded < o.amount_fen);

CREATE TEMP TABLE b_agg AS
SELECT customer_id,
       count(*) AS orders, sum(net) AS spend, max(at) AS last_at,
       sum({{now}} - at < 30 * {{day}}) AS orders_30d, sum(iif({{now}} - at < 30 * {{day}}, net, 0)) AS spend_30d,
       sum({{now}} - at < 90 * {{day}}) AS orders_90d, sum(iif({{now}} - at < 90 * {{day}}, net, 0)) AS spend_90d,
       sum({{now}} - at < 365 * {{day}}) AS orders_365d, sum(iif({{now}} - at < 365 * {{day}}, net, 0)) AS spend_365d,
       sum(at > {{now}} - 365 * {{day}}) AS rfm_orders, sum(iif(at > {{now}} - 365 * {{day}}, net, 0)) AS rfm_spend
FROM b_orders GROUP BY customer_id;
CREATE UNIQUE INDEX temp.b_agg_id ON b_agg (customer_id);

CREATE TEMP TABLE b_ev AS
SELECT customer_id,
       sum(type = 'share' AND at > {{now}} - 90 * {{day}}) AS shares_90d,
       sum(type = 'referral') AS referrals,
       sum(type = 'referral' AND at > {{now}} - 365 * {{day}}) AS period_refs,
       sum(type = 'visit' AND at > {{now}} - 7 * {{day}}) AS visits_7d,
       sum(type = 'visit' AND at > {{now}} - 30 * {{day}}) AS visits_30d,
       sum(type = 'live_view' AND at > {{now}} - 14 * {{day}}) AS live_views_14d,
       sum(type = 'message_reply' AND at > {{now}} - 30 * {{day}}) AS replies_30d
FROM events WHERE at <= {{now}} GROUP BY customer_id;
CREATE UNIQUE INDEX temp.b_ev_id ON b_ev (customer_id);

CREATE TEMP TABLE b_base AS
SELECT c.id, c.tier, c.tags, c.attrs, c.member,
       ({{now}} - c.joined_at) / {{day}} AS joined_days,
       coalesce(a.orders, 0) AS orders, coalesce(a.spend, 0) AS spend,
       CASE WHEN a.orders > 0 THEN ({{now}} - a.last_at) / {{day}} END AS recency_days,
       coalesce(a.orders_30d, 0) AS orders_30d, coalesce(a.spend_30d, 0) AS spend_30d,
       coalesce(a.orders_90d, 0) AS orders_90d, coalesce(a.spend_90d, 0) AS spend_90d,
       coalesce(a.orders_365d, 0) AS orders_365d, coalesce(a.spend_365d, 0) AS spend_365d,
       coalesce(a.rfm_orders, 0) AS rfm_orders, coalesce(a.rfm_spend, 0) AS rfm_spend,
       coalesce(e.shares_90d, 0) AS shares_90d, coalesce(e.referrals, 0) AS referrals,
       coalesce(e.period_refs, 0) AS period_refs,
       coalesce(e.visits_7d, 0) AS visits_7d, coalesce(e.visits_30d, 0) AS visits_30d,
       coalesce(e.live_views_14d, 0) AS live_views_14d, coalesce(e.replies_30d, 0) AS replies_30d
FROM customers AS c
LEFT JOIN b_agg AS a ON a.customer_id = c.id
LEFT JOIN b_ev AS e ON e.customer_id = c.id
WHERE c.joined_at <= {{now}};

-- RFM: score = 1 + 5w/n, w the number of scored customers strictly worse;
-- high/low against the means of the scored.
CREATE TEMP TABLE b_scored AS
SELECT id, count(*) OVER () AS n,
       rank() OVER (ORDER BY recency_days DESC) - 1 AS wr,
       rank() OVER (ORDER BY rfm_orders) - 1 AS wf,
       rank() OVER (ORDER BY rfm_spend) - 1 AS wm,
       recency_days <= avg(recency_days) OVER () AS r_high,
       rfm_orders >= avg(rfm_orders) OVER () AS f_high,
       rfm_spend >= avg(rfm_spend) OVER () AS m_high
FROM b_base WHERE rfm_orders > 0;
CREATE UNIQUE INDEX temp.b_scored_id ON b_scored (id);

CREATE TEMP TABLE bench_profile AS
SELECT b.*,
       coalesce(1 + 5 * s.wr / s.n, 0) AS rfm_r,
       coalesce(1 + 5 * s.wf / s.n, 0) AS rfm_f,
       coalesce(1 + 5 * s.wm / s.n, 0) AS rfm_m,
       CASE WHEN s.id IS NULL THEN ''
            WHEN s.r_high AND s.f_high AND s.m_high THEN 'important_value'
            WHEN s.r_high AND s.m_high THEN 'important_develop'
            WHEN s.f_high AND s.m_high THEN 'important_retain'
            WHEN s.m_high THEN 'important_winback'
            WHEN s.r_high AND s.f_high THEN 'general_value'
            WHEN s.r_high THEN 'general_develop'
            WHEN s.f_high THEN 'general_retain'
            ELSE 'general_winback' END AS segment,
       CASE WHEN b.rfm_orders >= 2 AND b.period_refs >= 1 THEN 'koc'
            WHEN b.rfm_orders >= 2 THEN 'repeat'
            WHEN b.rfm_orders = 1 THEN 'purchased'
            WHEN b.member OR b.orders > 0 THEN 'member'
            ELSE 'basic' END AS lifecycle
FROM b_base AS b LEFT JOIN b_scored AS s ON s.id = b.id;

-- The bench set's 20 rules as hand-written SQL over bench_profile (see
-- profile.sql). Each query counts the customers the rule matches; money
-- is compared in fen. Every query starts with its rule as a comment.

-- bench-rfm/retain-recall
SELECT count(*) FROM bench_profile WHERE orders > 0
  AND segment = 'important_retain' AND recency_days > 150 AND recency_days <= 160;
-- bench-rfm/develop-boost
SELECT count(*) FROM bench_profile WHERE orders > 0
  AND segment = 'important_develop' AND orders_90d = 1 AND spend_90d >= 30000;
-- bench-rfm/value-care
SELECT count(*) FROM bench_profile WHERE orders > 0
  AND segment = 'important_value' AND rfm_r = 5 AND rfm_m = 5 AND orders_30d >= 2 AND spend_30d >= 200000;
-- bench-rfm/winback
SELECT count(*) FROM bench_profile WHERE orders > 0
  AND segment = 'general_winback' AND recency_days >= 200 AND recency_days < 205;
-- bench-lifecycle/second-purchase
SELECT count(*) FROM bench_profile WHERE lifecycle = 'purchased' AND recency_days >= 20 AND recency_days <= 22;
-- bench-lifecycle/member-activation
SELECT count(*) FROM bench_profile WHERE lifecycle = 'member' AND orders = 0 AND joined_days <= 7;
-- bench-lifecycle/koc-reward
SELECT count(*) FROM bench_profile WHERE lifecycle = 'koc' AND referrals >= 2 AND shares_90d >= 2;
-- bench-lifecycle/repeat-upsell
SELECT count(*) FROM bench_profile WHERE lifecycle = 'repeat' AND spend < 11000 * orders AND orders_90d >= 2;
-- bench-engagement/browsers
SELECT count(*) FROM bench_profile WHERE member AND visits_7d >= 3 AND orders_30d = 0;
-- bench-engagement/live-viewers
SELECT count(*) FROM bench_profile WHERE member AND live_views_14d >= 4 AND recency_days > 30;
-- bench-engagement/silent-fans
SELECT count(*) FROM bench_profile WHERE member AND replies_30d = 0
  AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = '直播间') AND orders_365d >= 5;
-- bench-engagement/sharers
SELECT count(*) FROM bench_profile WHERE member AND shares_90d >= 2 AND visits_30d >= 5;
-- bench-tier/silver-near-gold
SELECT count(*) FROM bench_profile WHERE tier = 'silver' AND spend_365d >= 190000;
-- bench-tier/gold-lapsing
SELECT count(*) FROM bench_profile WHERE tier IN ('gold', 'vip') AND recency_days > 120 AND recency_days <= 130;
-- bench-tier/normal-frequent
SELECT count(*) FROM bench_profile WHERE tier = 'normal' AND orders_365d >= 4;
-- bench-tier/vip-quiet
SELECT count(*) FROM bench_profile WHERE tier = 'vip' AND orders_30d = 0 AND orders_90d = 0 AND recency_days <= 120;
-- bench-attrs/mom-recall
SELECT count(*) FROM bench_profile WHERE (member OR orders > 0)
  AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = '母婴')
  AND json_extract(attrs, '$.children') >= 1 AND recency_days > 45 AND recency_days <= 60;
-- bench-attrs/shanghai-value
SELECT count(*) FROM bench_profile WHERE (member OR orders > 0)
  AND json_extract(attrs, '$.city') = '上海' AND segment = 'general_value' AND orders_30d >= 1;
-- bench-attrs/price-sensitive
SELECT count(*) FROM bench_profile WHERE (member OR orders > 0)
  AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = '价格敏感')
  AND orders_90d = 0 AND orders >= 3 AND recency_days <= 120;
-- bench-attrs/student-treat
SELECT count(*) FROM bench_profile WHERE (member OR orders > 0)
  AND json_extract(attrs, '$.occupation') = '学生' AND member AND spend < 10000 AND orders > 0;

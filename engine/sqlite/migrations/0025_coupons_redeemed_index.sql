-- Coupons are found by fire only for the outcome report, and only those an
-- order redeemed (OutcomeFires in outcomes.go). Indexing every coupon by its
-- fire cost each issue an index entry it never used: a run's writer is on
-- the critical path of koi's evaluation, and issuing a coupon is most of
-- what it writes. Now a coupon enters the index when an order redeems it.
DROP INDEX coupons_fire;
CREATE INDEX coupons_redeemed ON coupons (fire_id) WHERE order_id IS NOT NULL;

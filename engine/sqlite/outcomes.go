package sqlite

import (
	"context"
	"fmt"

	"github.com/koihq/koi/engine"
)

// OutcomeFires reads fires for reports. The coupons a fire issued are
// joined to the orders that redeemed them through the order id the
// redemption recorded; an order is found by its order_id, or by its event
// id when it has none, among the customer's events.
func (d *DB) OutcomeFires(ctx context.Context, playbook string) ([]engine.OutcomeFire, error) {
	rows, err := d.db.QueryContext(ctx, `
		SELECT f.id, f.playbook, f.rule, f.customer_id, f.at, f.status, f.variant,
		       coalesce((SELECT sum(e.amount_fen) FROM coupons c JOIN events e
		                 ON e.customer_id = c.customer_id AND e.type = 'order' AND (e.order_id = c.order_id OR (e.order_id = '' AND e.id = c.order_id))
		                 WHERE c.fire_id = f.id AND c.order_id IS NOT NULL), 0)
		FROM fires f WHERE (? = '' OR f.playbook = ?) ORDER BY f.id`, playbook, playbook)
	if err != nil {
		return nil, fmt.Errorf("read outcome fires: %w", err)
	}
	defer rows.Close()
	var out []engine.OutcomeFire
	for rows.Next() {
		var f engine.OutcomeFire
		var at int64
		if err := rows.Scan(&f.ID, &f.Playbook, &f.Rule, &f.CustomerID, &at, &f.Status, &f.Variant, &f.CouponOrderFen); err != nil {
			return nil, err
		}
		f.At = fromMs(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

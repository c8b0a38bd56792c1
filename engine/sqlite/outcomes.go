package sqlite

import (
	"context"
	"fmt"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/report"
)

// outcomeFiresQuery reads a playbook's fires (all when playbook is empty) with the value
// of the orders that redeemed their coupons. A fire's coupons are found
// through coupons_redeemed, which holds only redeemed ones (migration 0025);
// only those have the order_id the query asks for.
const outcomeFiresQuery = `
		SELECT f.id, f.playbook, f.rule, f.customer_id, f.at, f.status, f.variant,
		       coalesce((SELECT sum(e.amount_fen) FROM coupons c JOIN events e
		                 ON e.customer_id = c.customer_id AND e.type = 'order' AND (e.order_id = c.order_id OR (e.order_id = '' AND e.id = c.order_id))
		                 WHERE c.fire_id = f.id AND c.order_id IS NOT NULL), 0)
		FROM fires f WHERE (? = '' OR f.playbook = ?) ORDER BY f.id`

// OutcomeFires reads fires for reports. The coupons a fire issued are
// joined to the orders that redeemed them through the order id the
// redemption recorded; an order is found by its order_id, or by its event
// id when it has none, among the customer's events.
func (d *DB) OutcomeFires(ctx context.Context, playbook string) ([]report.OutcomeFire, error) {
	rows, err := d.db.QueryContext(ctx, outcomeFiresQuery, playbook, playbook)
	if err != nil {
		return nil, fmt.Errorf("read outcome fires: %w", err)
	}
	defer rows.Close()
	var out []report.OutcomeFire
	for rows.Next() {
		var f report.OutcomeFire
		var at int64
		if err := rows.Scan(&f.ID, &f.Playbook, &f.Rule, &f.CustomerID, &at, &f.Status, &f.Variant, &f.CouponOrderFen); err != nil {
			return nil, err
		}
		f.At = fromMs(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// MessageStates counts the messages of each rule's fires by their
// delivery state, from the contact history.
func (d *DB) MessageStates(ctx context.Context, playbook string) ([]report.MessageStateCount, error) {
	rows, err := d.db.QueryContext(ctx, `
		SELECT f.playbook, f.rule, c.channel, c.state, count(*)
		FROM contacts c JOIN fires f ON f.id = c.fire_id
		WHERE (? = '' OR f.playbook = ?)
		GROUP BY f.playbook, f.rule, c.channel, c.state`, playbook, playbook)
	if err != nil {
		return nil, fmt.Errorf("read message states: %w", err)
	}
	defer rows.Close()
	var out []report.MessageStateCount
	for rows.Next() {
		var m report.MessageStateCount
		if err := rows.Scan(&m.Playbook, &m.Rule, &m.Channel, &m.State, &m.N); err != nil {
			return nil, fmt.Errorf("read message states: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CustomerMessages returns a customer's latest messages, newest first,
// with what became of each.
func (d *DB) CustomerMessages(ctx context.Context, customerID string, limit int) ([]domain.MessageRecord, error) {
	rows, err := d.db.QueryContext(ctx, `
		SELECT coalesce(f.playbook, ''), coalesce(f.rule, ''), c.channel, c.at, c.state, c.job_key
		FROM contacts c LEFT JOIN fires f ON f.id = c.fire_id
		WHERE c.customer_id = ? ORDER BY c.at DESC LIMIT ?`, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("read customer messages: %w", err)
	}
	defer rows.Close()
	out := []domain.MessageRecord{}
	for rows.Next() {
		var m domain.MessageRecord
		var at int64
		if err := rows.Scan(&m.Playbook, &m.Rule, &m.Channel, &at, &m.State, &m.JobKey); err != nil {
			return nil, fmt.Errorf("read customer messages: %w", err)
		}
		m.At = fromMs(at)
		if m.State == "" {
			m.State = "unknown" // recorded before koi tracked outcomes
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

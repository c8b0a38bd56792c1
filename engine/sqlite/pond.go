package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/koihq/koi/engine"
)

// LoadPond reads all customers, events and coupons in three sequential scans.
func (d *DB) LoadPond(ctx context.Context) (*engine.Pond, error) {
	pond := engine.NewPond()
	if err := d.loadCustomers(ctx, pond); err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	if err := d.loadEvents(ctx, pond); err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	if err := d.loadCoupons(ctx, pond); err != nil {
		return nil, fmt.Errorf("load coupons: %w", err)
	}
	return pond, nil
}

const customerColumns = `id, name, phone, email, wecom_id, tier, tags, attrs, member, joined_at, birthday, guide`

func scanCustomer(row interface{ Scan(...any) error }) (engine.Customer, error) {
	var c engine.Customer
	var tags, attrs string
	var joined int64
	var member int
	if err := row.Scan(&c.ID, &c.Name, &c.Phone, &c.Email, &c.WeComID, &c.Tier, &tags, &attrs, &member, &joined, &c.Birthday, &c.Guide); err != nil {
		return c, err
	}
	c.Member = member != 0
	c.JoinedAt = fromMs(joined)
	if tags != "[]" && tags != "" {
		if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
			return c, fmt.Errorf("customer %s: tags: %w", c.ID, err)
		}
	}
	if attrs != "{}" && attrs != "" {
		if err := json.Unmarshal([]byte(attrs), &c.Attrs); err != nil {
			return c, fmt.Errorf("customer %s: attrs: %w", c.ID, err)
		}
	}
	return c, nil
}

func (d *DB) loadCustomers(ctx context.Context, pond *engine.Pond) error {
	rows, err := d.db.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return err
		}
		pond.PutCustomer(c)
	}
	return rows.Err()
}

func (d *DB) loadEvents(ctx context.Context, pond *engine.Pond) error {
	rows, err := d.db.QueryContext(ctx, `SELECT customer_id, type, at, amount_fen, order_id, code, id FROM events ORDER BY customer_id, at`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		cur  string
		idx  = -1
		e    engine.Event
		at   int64
		cust string
	)
	for rows.Next() {
		if err := rows.Scan(&cust, &e.Type, &at, &e.AmountFen, &e.OrderID, &e.Code, &e.ID); err != nil {
			return err
		}
		if cust != cur {
			cur = cust
			i, ok := pond.Lookup(cust)
			if !ok {
				idx = -1
				continue
			}
			idx = i
		}
		if idx < 0 {
			continue
		}
		e.CustomerID = cust
		e.At = fromMs(at)
		pond.AddLoadedEvent(idx, e)
	}
	return rows.Err()
}

func (d *DB) loadCoupons(ctx context.Context, pond *engine.Pond) error {
	rows, err := d.db.QueryContext(ctx, `SELECT customer_id, code, issued_at, expires_at FROM coupons WHERE status != 'void'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cust string
		var c engine.IssuedCoupon
		var issued, expires int64
		if err := rows.Scan(&cust, &c.Code, &issued, &expires); err != nil {
			return err
		}
		if i, ok := pond.Lookup(cust); ok {
			c.IssuedAt, c.ExpiresAt = fromMs(issued), fromMs(expires)
			pond.AddCoupon(i, c)
		}
	}
	return rows.Err()
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/koihq/koi/engine"
)

// UpsertCustomers inserts or replaces customers in one transaction.
func (d *DB) UpsertCustomers(ctx context.Context, cs []engine.Customer, now time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO customers (`+customerColumns+`, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone, email = excluded.email,
			wecom_id = excluded.wecom_id, tier = excluded.tier, tags = excluded.tags, attrs = excluded.attrs,
			member = excluded.member, joined_at = excluded.joined_at, birthday = excluded.birthday,
			guide = excluded.guide, updated_at = excluded.updated_at`)
	if err != nil {
		return fmt.Errorf("prepare upsert customer: %w", err)
	}
	defer st.Close()
	for i := range cs {
		c := &cs[i]
		tags, attrs := "[]", "{}"
		if len(c.Tags) > 0 {
			b, _ := json.Marshal(c.Tags)
			tags = string(b)
		}
		if len(c.Attrs) > 0 {
			b, err := json.Marshal(c.Attrs)
			if err != nil {
				return fmt.Errorf("customer %s: attrs: %w", c.ID, err)
			}
			attrs = string(b)
		}
		joined := c.JoinedAt
		if joined.IsZero() {
			joined = now
		}
		if _, err := st.ExecContext(ctx, c.ID, c.Name, c.Phone, c.Email, c.WeComID, c.Tier, tags, attrs,
			boolInt(c.Member), ms(joined), c.Birthday, c.Guide, ms(now)); err != nil {
			return fmt.Errorf("upsert customer %s: %w", c.ID, err)
		}
	}
	return tx.Commit()
}

// InsertEvents stores events in one transaction, idempotently: an event whose
// id is already stored is skipped. An event of an unknown customer is not
// stored and reported in itemErrs at its index; the others are kept.
func (d *DB) InsertEvents(ctx context.Context, evs []engine.Event) (inserted int, itemErrs map[int]error, err error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO events (id, customer_id, type, at, amount_fen, order_id, code, attrs)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return 0, nil, fmt.Errorf("prepare insert event: %w", err)
	}
	defer st.Close()
	for i := range evs {
		e := &evs[i]
		var attrs sql.NullString
		if len(e.Attrs) > 0 {
			b, err := json.Marshal(e.Attrs)
			if err != nil {
				return 0, nil, fmt.Errorf("event %s: attrs: %w", e.ID, err)
			}
			attrs = sql.NullString{String: string(b), Valid: true}
		}
		res, err := st.ExecContext(ctx, e.ID, e.CustomerID, e.Type, ms(e.At), e.AmountFen, e.OrderID, e.Code, attrs)
		if err != nil {
			if isForeignKey(err) {
				if itemErrs == nil {
					itemErrs = map[int]error{}
				}
				itemErrs[i] = &engine.Error{Code: engine.EInvalid, Field: "customer_id", Message: fmt.Sprintf("unknown customer %q", e.CustomerID)}
				continue
			}
			return 0, nil, fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			inserted++
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("commit: %w", err)
	}
	return inserted, itemErrs, nil
}

// GetCustomer reads one stored customer.
func (d *DB) GetCustomer(ctx context.Context, id string) (*engine.Customer, error) {
	c, err := scanCustomer(d.db.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &engine.Error{Code: engine.ENotFound, Message: fmt.Sprintf("no customer %q", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("read customer %s: %w", id, err)
	}
	return &c, nil
}

// Counts returns the number of customers and events stored.
func (d *DB) Counts(ctx context.Context) (customers, events int, err error) {
	if err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&customers); err != nil {
		return
	}
	err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&events)
	return
}

func isForeignKey(err error) bool {
	return strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

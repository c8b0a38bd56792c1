package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/koihq/koi/engine/domain"
)

// Events go in one prepared single-row statement each: each needs the
// duplicate check and its seq before the next. Multi-row statements
// measured slower when a unique index on the id made SQLite journal every
// page a statement changed; without it they were not measured again.

// insertEvent appends an event; its seq is the next rowid.
const insertEvent = `INSERT INTO events (id, customer_id, type, at, amount_fen, order_id, code, attrs)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// AddEvents is InsertEvents reporting each event's fate and the pond
// version. An event whose id is stored already, or earlier in the batch,
// is skipped (eventids.go keeps ids unique). The transaction commits with
// synchronous=FULL: when it returns, every inserted event is durable.
func (d *DB) AddEvents(ctx context.Context, evs []domain.Event) (_ domain.AddedEvents, err error) {
	defer unavailableOn(&err)
	out := domain.AddedEvents{Inserted: make([]bool, len(evs))}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return out, fmt.Errorf("begin: %w", err)
	}
	defer end()
	// The write lock is held from BEGIN: no other connection adds events
	// or changes runs until this commits.
	x := d.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.syncLocked(ctx, tx); err != nil {
		return out, err
	}
	st, err := d.stmt(ctx, tx, insertEvent)
	if err != nil {
		return out, fmt.Errorf("prepare insert event: %w", err)
	}
	added := make(map[string]int64, len(evs))
	for i := range evs {
		e := &evs[i]
		if _, ok := added[e.ID]; ok {
			continue
		}
		dup, err := x.hasLocked(ctx, tx, e.ID)
		if err != nil {
			return out, err
		}
		if dup {
			continue
		}
		var attrs sql.NullString
		if len(e.Attrs) > 0 {
			b, err := json.Marshal(e.Attrs)
			if err != nil {
				return out, fmt.Errorf("event %s: attrs: %w", e.ID, err)
			}
			attrs = sql.NullString{String: string(b), Valid: true}
		}
		res, err := st.ExecContext(ctx, e.ID, e.CustomerID, e.Type, ms(e.At), e.AmountFen, e.OrderID, e.Code, attrs)
		if err != nil {
			if isForeignKey(err) {
				if out.ItemErrs == nil {
					out.ItemErrs = map[int]error{}
				}
				out.ItemErrs[i] = &domain.Error{Code: domain.EInvalid, Field: "customer_id", Message: fmt.Sprintf("unknown customer %q", e.CustomerID)}
				continue
			}
			return out, fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return out, fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		added[e.ID] = seq
		out.Inserted[i] = true
		if err := d.eventEffects(ctx, tx, e); err != nil {
			return out, err
		}
	}
	if out.Version, err = bumpVersion(ctx, tx); err != nil {
		return out, err
	}
	if err := d.commit(tx); err != nil {
		return out, fmt.Errorf("commit: %w", err)
	}
	x.addedLocked(added)
	if len(x.tail) >= x.flushAt {
		d.compactor.kick()
	}
	return out, nil
}

func isForeignKey(err error) bool {
	return strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// eventEffects records what an event changes besides the event itself, in
// its transaction: an unsubscribe opts the customer out; a coupon
// redemption marks the coupon redeemed by its order, when the coupon was
// still valid at the time.
func (d *DB) eventEffects(ctx context.Context, tx *sql.Tx, e *domain.Event) error {
	if e.OptOut != "" {
		if err := addOptOut(ctx, tx, e.CustomerID, e.OptOut); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
	}
	if e.Type == domain.EventCouponRedeem && e.Code != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE coupons SET status = 'redeemed', redeemed_at = ?, order_id = nullif(?, '')
			WHERE code = ? AND customer_id = ? AND redeemed_at IS NULL AND status != 'void' AND issued_at <= ? AND expires_at > ?`,
			ms(e.At), e.OrderID, e.Code, e.CustomerID, ms(e.At), ms(e.At)); err != nil {
			return fmt.Errorf("event %s: redeem coupon: %w", e.ID, err)
		}
	}
	return nil
}

// addOptOut adds channel to a customer's opt-outs.
func addOptOut(ctx context.Context, tx *sql.Tx, customerID, channel string) error {
	_, err := tx.ExecContext(ctx, `UPDATE customers SET opt_out = (SELECT json_group_array(value) FROM
		(SELECT value FROM json_each(customers.opt_out) UNION SELECT ? ORDER BY value)) WHERE id = ?`, channel, customerID)
	if err != nil {
		return fmt.Errorf("opt out: %w", err)
	}
	return nil
}

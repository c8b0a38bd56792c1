package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
)

// FireMarks returns the latest fire of every (rule, customer) of a playbook.
func (d *DB) FireMarks(ctx context.Context, playbook string) (map[engine.FireRef]engine.FireMark, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT rule, customer_id, max(seq), max(at) FROM fires WHERE playbook = ? GROUP BY rule, customer_id`, playbook)
	if err != nil {
		return nil, fmt.Errorf("query fire marks: %w", err)
	}
	defer rows.Close()
	marks := map[engine.FireRef]engine.FireMark{}
	for rows.Next() {
		var ref engine.FireRef
		var seq int
		var at int64
		if err := rows.Scan(&ref.Rule, &ref.CustomerID, &seq, &at); err != nil {
			return nil, err
		}
		marks[ref] = engine.FireMark{Seq: seq, At: fromMs(at)}
	}
	return marks, rows.Err()
}

// WriteFires runs fn in one write transaction.
func (d *DB) WriteFires(ctx context.Context, now time.Time, fn func(tx engine.FireTx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	ftx, err := newFireTx(ctx, tx, now)
	if err != nil {
		return err
	}
	defer ftx.close()
	if err := fn(ftx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// fireTx is a transaction with its statements prepared once per batch.
type fireTx struct {
	ctx        context.Context
	tx         *sql.Tx
	now        time.Time
	insertFire *sql.Stmt
	insertCoup *sql.Stmt
}

var _ engine.FireTx = (*fireTx)(nil)

func newFireTx(ctx context.Context, tx *sql.Tx, now time.Time) (*fireTx, error) {
	f := &fireTx{ctx: ctx, tx: tx, now: now}
	var err error
	f.insertFire, err = tx.PrepareContext(ctx, `INSERT INTO fires (run_id, playbook, rule, customer_id, seq, status, at, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (playbook, rule, customer_id, seq) DO NOTHING RETURNING id`)
	if err != nil {
		return nil, fmt.Errorf("prepare insert fire: %w", err)
	}
	f.insertCoup, err = tx.PrepareContext(ctx, `INSERT INTO coupons (code, customer_id, fire_id, amount_fen, min_spend_fen, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare insert coupon: %w", err)
	}
	return f, nil
}

func (f *fireTx) close() {
	f.insertFire.Close()
	f.insertCoup.Close()
}

// Fire inserts the fire and runs do inside a savepoint.
func (f *fireTx) Fire(fire *engine.Fire, do func() error) (bool, error) {
	if _, err := f.tx.ExecContext(f.ctx, `SAVEPOINT fire`); err != nil {
		return false, fmt.Errorf("savepoint: %w", err)
	}
	var id int64
	err := f.insertFire.QueryRowContext(f.ctx, fire.RunID, fire.Playbook, fire.Rule, fire.CustomerID, fire.Seq, fire.Status, ms(fire.At), fire.Hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		_, rerr := f.tx.ExecContext(f.ctx, `RELEASE fire`)
		return false, rerr
	}
	if err != nil {
		return false, fmt.Errorf("insert fire: %w", err)
	}
	fire.ID = id
	if derr := do(); derr != nil {
		if _, err := f.tx.ExecContext(f.ctx, `ROLLBACK TO fire`); err != nil {
			return false, fmt.Errorf("rollback fire: %w", err)
		}
		if _, err := f.tx.ExecContext(f.ctx, `RELEASE fire`); err != nil {
			return false, fmt.Errorf("release fire: %w", err)
		}
		return false, derr
	}
	if _, err := f.tx.ExecContext(f.ctx, `RELEASE fire`); err != nil {
		return false, fmt.Errorf("release fire: %w", err)
	}
	return true, nil
}

// IssueCoupon writes a coupon to the ledger.
func (f *fireTx) IssueCoupon(c actions.Coupon) error {
	_, err := f.insertCoup.ExecContext(f.ctx, c.Code, c.CustomerID, c.FireID, c.AmountFen, c.MinSpendFen, ms(c.IssuedAt), ms(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert coupon %s: %w", c.Code, err)
	}
	return nil
}

// UpdateTags adds and removes tags, keeping the stored order.
func (f *fireTx) UpdateTags(customerID string, add, remove []string) ([]string, error) {
	var raw string
	if err := f.tx.QueryRowContext(f.ctx, `SELECT tags FROM customers WHERE id = ?`, customerID).Scan(&raw); err != nil {
		return nil, fmt.Errorf("read tags of %s: %w", customerID, err)
	}
	var tags []string
	if err := json.Unmarshal([]byte(raw), &tags); err != nil {
		return nil, fmt.Errorf("decode tags of %s: %w", customerID, err)
	}
	tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(remove, t) })
	for _, t := range add {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	enc, _ := json.Marshal(tags)
	if _, err := f.tx.ExecContext(f.ctx, `UPDATE customers SET tags = ?, updated_at = ? WHERE id = ?`, string(enc), ms(f.now), customerID); err != nil {
		return nil, fmt.Errorf("update tags of %s: %w", customerID, err)
	}
	return tags, nil
}

// SetTier changes a customer's tier.
func (f *fireTx) SetTier(customerID, tier string) error {
	res, err := f.tx.ExecContext(f.ctx, `UPDATE customers SET tier = ?, updated_at = ? WHERE id = ?`, tier, ms(f.now), customerID)
	if err != nil {
		return fmt.Errorf("update tier of %s: %w", customerID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update tier: no customer %s", customerID)
	}
	return nil
}

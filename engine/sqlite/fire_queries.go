package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/koihq/koi/engine/domain"
)

// fires has one index, its unique key (playbook, rule, customer_id, seq);
// see migration 0004. These are the two other ways in.

const fireColumns = `id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, coalesce(grp, ''), coalesce(gseq, 0)`

// RunFires returns the fires of a run, in id order. They lie within the
// run's id range, so only that range is read.
func (d *DB) RunFires(ctx context.Context, runID int64) ([]domain.Fire, error) {
	var lo, hi sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT first_fire_id, last_fire_id FROM runs WHERE id = ?`, runID).Scan(&lo, &hi)
	if err == sql.ErrNoRows {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no run %d", runID)}
	}
	if err != nil || !lo.Valid {
		return nil, err
	}
	return d.queryFires(ctx, `SELECT `+fireColumns+` FROM fires WHERE id BETWEEN ? AND ? AND run_id = ? ORDER BY id`, lo.Int64, hi.Int64, runID)
}

// CustomerFires returns a customer's fires, newest first. It walks the
// unique key: one seek finds the next (playbook, rule) that ever fired,
// one more that rule's fires for the customer.
func (d *DB) CustomerFires(ctx context.Context, customerID string) ([]domain.Fire, error) {
	pairs, err := fireRules(ctx, d.db)
	if err != nil {
		return nil, err
	}
	var out []domain.Fire
	for _, p := range pairs {
		fs, err := d.queryFires(ctx, `SELECT `+fireColumns+` FROM fires WHERE playbook = ? AND rule = ? AND customer_id = ?`, p[0], p[1], customerID)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	slices.SortFunc(out, func(a, b domain.Fire) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// fireRules lists the (playbook, rule) pairs that ever fired, with one
// seek of the fire key per pair rather than a scan of it.
func fireRules(ctx context.Context, q querier) ([][2]string, error) {
	var out [][2]string
	pb, rule := "", ""
	for {
		err := q.QueryRowContext(ctx, `SELECT playbook, rule FROM fires WHERE (playbook, rule) > (?, ?)
			ORDER BY playbook, rule LIMIT 1`, pb, rule).Scan(&pb, &rule)
		if err == sql.ErrNoRows {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read fires: %w", err)
		}
		out = append(out, [2]string{pb, rule})
	}
}

func (d *DB) queryFires(ctx context.Context, query string, args ...any) ([]domain.Fire, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read fires: %w", err)
	}
	defer rows.Close()
	var out []domain.Fire
	for rows.Next() {
		var f domain.Fire
		var at int64
		if err := rows.Scan(&f.ID, &f.RunID, &f.Playbook, &f.Rule, &f.CustomerID, &f.Seq, &f.Status, &at, &f.Hash, &f.Variant, &f.Group, &f.GroupSeq); err != nil {
			return nil, fmt.Errorf("read fires: %w", err)
		}
		f.At = fromMs(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

var _ engine.Queries = (*DB)(nil)

// listQuery builds a list's SELECT from the filters that are set, newest
// (highest key) first.
type listQuery struct {
	where []string
	args  []any
}

// when adds cond with arg if set is true.
func (q *listQuery) when(set bool, cond string, arg any) {
	if set {
		q.where, q.args = append(q.where, cond), append(q.args, arg)
	}
}

// sql returns the query selecting columns from table, ordered by key
// descending, at most limit rows, and its arguments.
func (q *listQuery) sql(columns, table, key string, limit int) (string, []any) {
	s := `SELECT ` + columns + ` FROM ` + table
	if len(q.where) > 0 {
		s += ` WHERE ` + strings.Join(q.where, " AND ")
	}
	return s + ` ORDER BY ` + key + ` DESC LIMIT ?`, append(q.args, limit)
}

const runColumns = `id, playbook, hash, at, started_at, ended_at, status, audience, matched, fired, limit_fires, error,
	coalesce(first_fire_id, 0), coalesce(last_fire_id, 0), trigger, expires_at, decided_by, decided_at, file`

func scanRun(s interface{ Scan(...any) error }) (*engine.Run, error) {
	r := &engine.Run{}
	var at, started int64
	var ended, expires, decided sql.NullInt64
	if err := s.Scan(&r.ID, &r.Playbook, &r.Hash, &at, &started, &ended, &r.Status, &r.Audience, &r.Matched, &r.Fired, &r.Limit, &r.Error,
		&r.FirstFireID, &r.LastFireID, &r.Trigger, &expires, &r.DecidedBy, &decided, &r.File); err != nil {
		return nil, err
	}
	r.At, r.StartedAt = fromMs(at), fromMs(started)
	if ended.Valid {
		r.EndedAt = fromMs(ended.Int64)
	}
	r.ExpiresAt, r.DecidedAt = optionalTime(expires), optionalTime(decided)
	return r, nil
}

func optionalTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMs(v.Int64)
	return &t
}

// ListRuns returns runs newest first, without their per-rule counts.
func (d *DB) ListRuns(ctx context.Context, f domain.RunFilter) ([]*engine.Run, error) {
	var lq listQuery
	lq.when(f.Playbook != "", "playbook = ?", f.Playbook)
	lq.when(f.Status != "", "status = ?", f.Status)
	lq.when(f.BeforeID > 0, "id < ?", f.BeforeID)
	q, args := lq.sql(runColumns, "runs", "id", domain.PageLimit(f.Limit))
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	out := []*engine.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ListFires returns fires newest first. A run's fires are read from its id
// range, a customer's through the fire key (see fire_queries.go), a rule's
// through the key's prefix; others by id.
func (d *DB) ListFires(ctx context.Context, f domain.FireFilter) ([]domain.Fire, error) {
	limit := domain.PageLimit(f.Limit)
	keep := func(x *domain.Fire) bool {
		return (f.RunID == 0 || x.RunID == f.RunID) && (f.Playbook == "" || x.Playbook == f.Playbook) &&
			(f.Rule == "" || x.Rule == f.Rule) && (f.CustomerID == "" || x.CustomerID == f.CustomerID) &&
			(f.BeforeID == 0 || x.ID < f.BeforeID)
	}
	var fires []domain.Fire
	var err error
	switch {
	case f.RunID > 0:
		fires, err = d.RunFires(ctx, f.RunID)
	case f.CustomerID != "":
		fires, err = d.CustomerFires(ctx, f.CustomerID)
	default:
		var lq listQuery
		lq.when(f.Playbook != "", "playbook = ?", f.Playbook)
		lq.when(f.Rule != "", "rule = ?", f.Rule)
		lq.when(f.BeforeID > 0, "id < ?", f.BeforeID)
		q, args := lq.sql(fireColumns, "fires", "id", limit)
		fires, err = d.queryFires(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	out := make([]domain.Fire, 0, min(len(fires), limit))
	// Newest first: RunFires reads in id order.
	if f.RunID > 0 {
		for i, j := 0, len(fires)-1; i < j; i, j = i+1, j-1 {
			fires[i], fires[j] = fires[j], fires[i]
		}
	}
	for i := range fires {
		if len(out) == limit {
			break
		}
		if keep(&fires[i]) {
			out = append(out, fires[i])
		}
	}
	return out, nil
}

const couponColumns = `rowid, code, customer_id, coalesce(fire_id, 0), amount_fen, min_spend_fen, issued_at, expires_at,
	coalesce(order_id, ''), redeemed_at`

func scanCoupon(s interface{ Scan(...any) error }) (*domain.Coupon, error) {
	c := &domain.Coupon{}
	var issued, expires int64
	var redeemed sql.NullInt64
	if err := s.Scan(&c.Seq, &c.Code, &c.CustomerID, &c.FireID, &c.AmountFen, &c.MinSpendFen, &issued, &expires, &c.OrderID, &redeemed); err != nil {
		return nil, err
	}
	c.IssuedAt, c.ExpiresAt = fromMs(issued), fromMs(expires)
	if redeemed.Valid {
		t := fromMs(redeemed.Int64)
		c.RedeemedAt = &t
	}
	return c, nil
}

// ExpireCoupons marks the open coupons that expired by now; a coupon
// redeemed later by an event dated before its expiry is still redeemed.
func (d *DB) ExpireCoupons(ctx context.Context, now time.Time) (int, error) {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer end()
	res, err := tx.ExecContext(ctx, `UPDATE coupons SET status = 'expired' WHERE status = 'open' AND expires_at <= ?`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("expire coupons: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), d.commit(tx)
}

// ListCoupons returns coupons newest first; their Status is left to the
// engine, which knows the redemptions.
func (d *DB) ListCoupons(ctx context.Context, f domain.CouponFilter) ([]domain.Coupon, error) {
	var lq listQuery
	lq.when(f.CustomerID != "", "customer_id = ?", f.CustomerID)
	lq.when(f.BeforeSeq > 0, "rowid < ?", f.BeforeSeq)
	lq.when(true, "status != ?", "void")
	q, args := lq.sql(couponColumns, "coupons", "rowid", domain.PageLimit(f.Limit))
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list coupons: %w", err)
	}
	defer rows.Close()
	out := []domain.Coupon{}
	for rows.Next() {
		c, err := scanCoupon(rows)
		if err != nil {
			return nil, fmt.Errorf("list coupons: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// GetCoupon reads one coupon by code.
func (d *DB) GetCoupon(ctx context.Context, code string) (*domain.Coupon, error) {
	c, err := scanCoupon(d.db.QueryRowContext(ctx, `SELECT `+couponColumns+` FROM coupons WHERE code = ? AND status != 'void'`, code))
	if err == sql.ErrNoRows {
		return nil, &domain.Error{Code: domain.ENotFound, Field: "code", Message: fmt.Sprintf("no coupon %q", code)}
	}
	if err != nil {
		return nil, fmt.Errorf("read coupon %s: %w", code, err)
	}
	return c, nil
}

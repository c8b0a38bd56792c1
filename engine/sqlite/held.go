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

// HoldRun stores a held run's would-be fires and its expiry.
func (d *DB) HoldRun(ctx context.Context, runID int64, fires []domain.HeldFire, expiresAt time.Time) error {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer end()
	f := &fireTx{db: d, ctx: ctx, tx: tx}
	var box boxes
	start := 0
	for _, size := range chunkSizes(len(fires)) {
		chunk := fires[start : start+size]
		start += size
		args := f.argBuf(8 * len(chunk))
		for _, h := range chunk {
			var deliver int64
			if h.DeliverAt != nil {
				deliver = ms(*h.DeliverAt)
			}
			args = append(args, box.int64(runID), box.string(h.Rule), h.CustomerID, h.Seq, boolInt(h.Holdout), box.string(h.Variant), box.int64(deliver), h.GroupSeq)
		}
		if _, err := f.exec(f.db.multiRow(`INSERT OR FAIL INTO held_fires (run_id, rule, customer_id, seq, holdout, variant, deliver_at, gseq) VALUES `, len(chunk), 8, ""), args); err != nil {
			return fmt.Errorf("hold fires: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET expires_at = ? WHERE id = ?`, ms(expiresAt), runID); err != nil {
		return fmt.Errorf("hold run: %w", err)
	}
	return d.commit(tx)
}

// HeldFires returns a held run's fires in the order they were computed.
func (d *DB) HeldFires(ctx context.Context, runID int64, limit int) ([]domain.HeldFire, error) {
	q := `SELECT rule, customer_id, seq, holdout, variant, deliver_at, gseq FROM held_fires WHERE run_id = ? ORDER BY rowid`
	args := []any{runID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read held fires of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []domain.HeldFire
	for rows.Next() {
		var h domain.HeldFire
		var holdout int
		var deliver int64
		if err := rows.Scan(&h.Rule, &h.CustomerID, &h.Seq, &holdout, &h.Variant, &deliver, &h.GroupSeq); err != nil {
			return nil, err
		}
		h.Holdout = holdout != 0
		if deliver != 0 {
			t := fromMs(deliver)
			h.DeliverAt = &t
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// DecideRun records a decision about a held run.
func (d *DB) DecideRun(ctx context.Context, runID int64, from []string, status, by string, at time.Time) (err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer end()
	var cur string
	switch err := tx.QueryRowContext(ctx, `SELECT status FROM runs WHERE id = ?`, runID).Scan(&cur); {
	case err == sql.ErrNoRows:
		return &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no run %d", runID)}
	case err != nil:
		return fmt.Errorf("read run %d: %w", runID, err)
	}
	ok := false
	for _, s := range from {
		ok = ok || cur == s
	}
	if !ok {
		return &domain.Error{Code: domain.EConflict, Message: fmt.Sprintf("run %d is %s, not %s", runID, cur, strings.Join(from, " or "))}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?`, status, by, ms(at), runID); err != nil {
		return fmt.Errorf("decide run %d: %w", runID, err)
	}
	if status != engine.RunRunning {
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_fires WHERE run_id = ?`, runID); err != nil {
			return fmt.Errorf("drop held fires of run %d: %w", runID, err)
		}
	}
	return d.commit(tx)
}

// ExpireHeldRuns marks held runs past their expiry expired and drops what
// they held.
func (d *DB) ExpireHeldRuns(ctx context.Context, now time.Time) (int, error) {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer end()
	res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ? WHERE status = ? AND expires_at <= ?`, engine.RunExpired, engine.RunHeld, ms(now))
	if err != nil {
		return 0, fmt.Errorf("expire held runs: %w", err)
	}
	n, _ := res.RowsAffected()
	// An approval whose process died mid-release: interrupted once its
	// lease is over, so that it no longer keeps a journey waiting.
	stale, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = 'the approval stopped before it finished; the steps it did not take are looked at again'
		WHERE status = ? AND decided_at <= ? AND EXISTS (SELECT 1 FROM held_fires h WHERE h.run_id = runs.id)`,
		engine.RunInterrupted, engine.RunRunning, ms(now.Add(-engine.ApprovalLease)))
	if err != nil {
		return 0, fmt.Errorf("interrupt stale approvals: %w", err)
	}
	m, _ := stale.RowsAffected()
	if n > 0 || m > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_fires WHERE run_id IN (SELECT id FROM runs WHERE status IN (?, ?))`, engine.RunExpired, engine.RunInterrupted); err != nil {
			return 0, fmt.Errorf("drop expired held fires: %w", err)
		}
	}
	return int(n), d.commit(tx)
}

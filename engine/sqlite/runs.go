package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

// StartRun records a run as running. Runs of the same playbook still marked
// running belong to a process that died: they are marked interrupted. Not
// an approval under way (running with its held fires, decided within
// engine.ApprovalLease before the new run's moment), which another process
// may be releasing while a journey's pass here enters customers:
// ExpireHeldRuns ends a stale one.
func (d *DB) StartRun(ctx context.Context, r *engine.Run) error {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer end()
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = 'the process stopped before the run finished' WHERE playbook = ? AND status = ?
		AND NOT (coalesce(decided_at, 0) > ? AND EXISTS (SELECT 1 FROM held_fires h WHERE h.run_id = runs.id))`,
		engine.RunInterrupted, r.Playbook, engine.RunRunning, ms(r.At.Add(-engine.ApprovalLease))); err != nil {
		return fmt.Errorf("mark interrupted runs: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (playbook, hash, at, started_at, status, audience, limit_fires, trigger, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Playbook, r.Hash, ms(r.At), ms(r.StartedAt), r.Status, r.Audience, r.Limit, r.Trigger, r.File)
	if err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return d.commit(tx)
}

// FinishRun records the outcome and per-rule counts of a run.
func (d *DB) FinishRun(ctx context.Context, r *engine.Run) error {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer end()
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET ended_at = ?, status = ?, audience = ?, matched = ?, fired = ?, limit_fires = ?, error = ?,
		first_fire_id = nullif(?, 0), last_fire_id = nullif(?, 0) WHERE id = ?`,
		ms(r.EndedAt), r.Status, r.Audience, r.Matched, r.Fired, r.Limit, r.Error, r.FirstFireID, r.LastFireID, r.ID); err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	// What a run held lives while it is held or being released: once
	// finished otherwise, it is gone.
	if r.Status != engine.RunHeld {
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_fires WHERE run_id = ?`, r.ID); err != nil {
			return fmt.Errorf("drop held fires: %w", err)
		}
	}
	// An approved run is finished a second time: its counts replace the
	// held ones.
	for _, q := range []string{`DELETE FROM run_rules WHERE run_id = ?`, `DELETE FROM run_suppressions WHERE run_id = ?`} {
		if _, err := tx.ExecContext(ctx, q, r.ID); err != nil {
			return fmt.Errorf("replace run counts: %w", err)
		}
	}
	for _, c := range r.Rules {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_rules (run_id, rule, matched, fired, errors, first_error) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ID, c.Rule, c.Matched, c.Fired, c.Errors, c.FirstError); err != nil {
			return fmt.Errorf("insert run rule: %w", err)
		}
		for _, reason := range c.Reasons() {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_suppressions (run_id, rule, reason, count) VALUES (?, ?, ?, ?)`,
				r.ID, c.Rule, reason, c.Suppressed[reason]); err != nil {
				return fmt.Errorf("insert run suppression: %w", err)
			}
		}
		// Deferrals share the table, marked by a prefix: they are counts
		// per rule and reason too, of fires rather than of suppressions.
		for reason, n := range c.Deferred {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_suppressions (run_id, rule, reason, count) VALUES (?, ?, ?, ?)`,
				r.ID, c.Rule, deferredPrefix+reason, n); err != nil {
				return fmt.Errorf("insert run deferral: %w", err)
			}
		}
		// So do the suppressions a benefit group's other rules caused, by
		// the rule that fired.
		for by, n := range c.ByGroup {
			if _, err := tx.ExecContext(ctx, `INSERT INTO run_suppressions (run_id, rule, reason, count) VALUES (?, ?, ?, ?)`,
				r.ID, c.Rule, byGroupPrefix+by, n); err != nil {
				return fmt.Errorf("insert run group suppression: %w", err)
			}
		}
	}
	return d.commit(tx)
}

// deferredPrefix marks deferral counts in run_suppressions, and
// byGroupPrefix the counts of RuleCounts.ByGroup.
const (
	deferredPrefix = "deferred:"
	byGroupPrefix  = "group:"
)

// GetRun reads a run with its per-rule counts.
func (d *DB) GetRun(ctx context.Context, id int64) (*engine.Run, error) {
	r, err := scanRun(d.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no run %d", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("read run %d: %w", id, err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT rule, matched, fired, errors, first_error FROM run_rules WHERE run_id = ? ORDER BY rowid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byRule := map[string]*evaluate.RuleCounts{}
	for rows.Next() {
		c := &evaluate.RuleCounts{Suppressed: map[string]int{}}
		if err := rows.Scan(&c.Rule, &c.Matched, &c.Fired, &c.Errors, &c.FirstError); err != nil {
			return nil, err
		}
		r.Rules = append(r.Rules, c)
		byRule[c.Rule] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	srows, err := d.db.QueryContext(ctx, `SELECT rule, reason, count FROM run_suppressions WHERE run_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer srows.Close()
	for srows.Next() {
		var rule, reason string
		var n int
		if err := srows.Scan(&rule, &reason, &n); err != nil {
			return nil, err
		}
		c := byRule[rule]
		switch {
		case c == nil:
		case strings.HasPrefix(reason, deferredPrefix):
			if c.Deferred == nil {
				c.Deferred = map[string]int{}
			}
			c.Deferred[strings.TrimPrefix(reason, deferredPrefix)] = n
		case strings.HasPrefix(reason, byGroupPrefix):
			if c.ByGroup == nil {
				c.ByGroup = map[string]int{}
			}
			c.ByGroup[strings.TrimPrefix(reason, byGroupPrefix)] = n
		default:
			c.Suppressed[reason] = n
		}
	}
	return r, srows.Err()
}

// LastRunAt returns when the latest finished run of playbook evaluated,
// leaving out event-triggered runs.
func (d *DB) LastRunAt(ctx context.Context, playbook string) (time.Time, bool, error) {
	var at sql.NullInt64
	// Event-triggered runs evaluate only on-rules: they do not stand for
	// a scheduled run.
	if err := d.db.QueryRowContext(ctx, `SELECT max(at) FROM runs WHERE playbook = ? AND status IN (?, ?, ?) AND trigger != ?`,
		playbook, engine.RunDone, engine.RunHeld, engine.RunFailed, engine.TriggerEvent).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("read last run of %s: %w", playbook, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMs(at.Int64), true, nil
}

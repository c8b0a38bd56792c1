package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/evaluate"
)

// TriggerCursor returns the seq of the last event whose triggers ran, and
// false when triggers never ran.
func (d *DB) TriggerCursor(ctx context.Context) (int64, bool, error) {
	var seq int64
	err := d.db.QueryRowContext(ctx, `SELECT seq FROM trigger_cursor WHERE id = 1`).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read trigger cursor: %w", err)
	}
	return seq, true, nil
}

// SetTriggerCursor records that the triggers of the events up to seq ran.
func (d *DB) SetTriggerCursor(ctx context.Context, seq int64) error {
	_, err := d.execWrite(ctx, `INSERT INTO trigger_cursor (id, seq) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq`, seq)
	if err != nil {
		return fmt.Errorf("set trigger cursor: %w", err)
	}
	return nil
}

// LatestEventSeq returns the seq of the newest event, 0 when there is none.
func (d *DB) LatestEventSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read latest event: %w", err)
	}
	return seq.Int64, nil
}

// EventsAfter returns up to limit events after seq of the types, in
// commit order, with the fields triggers need, and the seq through which
// it looked. SQLite skips the events of other types (most are visits and
// the like), which then cost no conversion to Go values.
func (d *DB) EventsAfter(ctx context.Context, seq int64, limit int, types []string) (out []engine.EventRef, through int64, err error) {
	// One read transaction: the newest seq and the events up to it are of
	// one moment.
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, seq, fmt.Errorf("read events: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var latest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&latest); err != nil {
		return nil, seq, fmt.Errorf("read events: %w", err)
	}
	if latest.Int64 <= seq || len(types) == 0 {
		return nil, max(seq, latest.Int64), nil
	}
	var rows *sql.Rows
	if slices.Contains(types, engine.AnyEventType) {
		rows, err = tx.QueryContext(ctx, `SELECT seq, customer_id, type, at FROM events
			WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, seq, latest.Int64, limit)
	} else {
		enc, _ := json.Marshal(types)
		rows, err = tx.QueryContext(ctx, `SELECT seq, customer_id, type, at FROM events
			WHERE seq > ? AND seq <= ? AND type IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`, seq, latest.Int64, string(enc), limit)
	}
	if err != nil {
		return nil, seq, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r engine.EventRef
		var at int64
		if err := rows.Scan(&r.Seq, &r.CustomerID, &r.Type, &at); err != nil {
			return nil, seq, fmt.Errorf("read events: %w", err)
		}
		r.At = fromMs(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, seq, fmt.Errorf("read events: %w", err)
	}
	through = latest.Int64
	if len(out) == limit {
		through = out[len(out)-1].Seq // more may follow
	}
	return out, through, nil
}

// CustomerFireMarks returns the latest fire of each of a playbook's rules,
// and of each benefit group, for each of the customers: one seek of the
// fire key (or of fires_group) per pair.
func (d *DB) CustomerFireMarks(ctx context.Context, playbook string, ruleIDs []string, groups evaluate.GroupRules, customerIDs []string) (*evaluate.Marks, error) {
	marks := &evaluate.Marks{Rules: map[evaluate.FireRef]evaluate.FireMark{}, Groups: map[evaluate.FireRef]evaluate.FireMark{}}
	if len(customerIDs) == 0 || len(ruleIDs)+len(groups) == 0 {
		return marks, nil
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, `SELECT seq, at FROM fires WHERE playbook = ? AND rule = ? AND customer_id = ? ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("read fire marks: %w", err)
	}
	defer stmt.Close()
	gstmt, err := conn.PrepareContext(ctx, `SELECT gseq, at, playbook, rule FROM fires WHERE grp = ? AND customer_id = ? ORDER BY gseq DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("read group marks: %w", err)
	}
	defer gstmt.Close()
	// A group's rules' fires from before they joined it have no group.
	lstmt, err := conn.PrepareContext(ctx, `SELECT max(at) FROM fires WHERE playbook = ? AND rule = ? AND customer_id = ? AND grp IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("read group marks: %w", err)
	}
	defer lstmt.Close()
	for _, c := range customerIDs {
		for _, r := range ruleIDs {
			var seq int
			var at int64
			err := stmt.QueryRowContext(ctx, playbook, r, c).Scan(&seq, &at)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read fire marks: %w", err)
			}
			marks.Rules[evaluate.FireRef{Rule: r, CustomerID: c}] = evaluate.FireMark{Seq: seq, At: fromMs(at)}
		}
		for _, g := range groups.Names() {
			var seq int
			var at int64
			var pb, rule string
			err := gstmt.QueryRowContext(ctx, g, c).Scan(&seq, &at, &pb, &rule)
			switch {
			case err == nil:
				marks.NoteGroupFire(g, c, fromMs(at), seq, pb+"/"+rule)
			case err != sql.ErrNoRows:
				return nil, fmt.Errorf("read group marks: %w", err)
			}
			for _, ref := range groups[g] {
				var last sql.NullInt64
				if err := lstmt.QueryRowContext(ctx, ref.Playbook, ref.Rule, c).Scan(&last); err != nil {
					return nil, fmt.Errorf("read group marks: %w", err)
				}
				if last.Valid {
					marks.NoteGroupFire(g, c, fromMs(last.Int64), 0, ref.String())
				}
			}
		}
	}
	return marks, nil
}

var _ engine.TriggerStore = (*DB)(nil)

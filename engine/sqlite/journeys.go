package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// EnterJourney records st, the customer's entry numbered st.Entry into
// st.Journey, and reports false, writing nothing, when the stored state
// does not allow it: the customer is in the journey now, or entry
// st.Entry was recorded already (by a racing process). Whether a customer
// may enter again after their last journey ended (reenter) is the
// engine's to decide; the store keeps the entries in sequence.
func (f *fireTx) EnterJourney(st domain.JourneyState) (bool, error) {
	if st.Entry < 1 || st.Status != domain.JourneyEntered || st.NextStep == "" {
		return false, fmt.Errorf("enter journey %s: customer %s: an entry is numbered from 1 and has a step due", st.Journey, st.CustomerID)
	}
	res, err := f.tx.ExecContext(f.ctx, `INSERT INTO journey_state (journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'entered', ?, NULL)
		ON CONFLICT (journey, customer_id) DO UPDATE SET entry = excluded.entry, entered_at = excluded.entered_at, hash = excluded.hash,
			next_step = excluded.next_step, due_at = excluded.due_at, status = 'entered', holdout = excluded.holdout, ended_at = NULL
		WHERE journey_state.status != 'entered' AND journey_state.entry = excluded.entry - 1`,
		st.Journey, st.CustomerID, st.Entry, ms(st.EnteredAt), st.Hash, st.NextStep, ms(st.DueAt), boolInt(st.Holdout))
	if err != nil {
		return false, fmt.Errorf("enter journey %s: customer %s: %w", st.Journey, st.CustomerID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("enter journey %s: customer %s: %w", st.Journey, st.CustomerID, err)
	}
	return n == 1, nil
}

// AdvanceJourney moves the customer's entry `entry` into journey from
// step `from` to next: its NextStep and DueAt, or its end (Status exited
// or completed, EndedAt). It reports false, writing nothing, when the
// stored state is no longer at that step of that entry: a racing process
// moved it first, and this one must not act on the step.
func (f *fireTx) AdvanceJourney(journey, customerID string, entry int, from string, next domain.JourneyState) (bool, error) {
	var nextStep any = next.NextStep
	var due, ended any
	switch next.Status {
	case domain.JourneyEntered:
		if next.NextStep == "" {
			return false, fmt.Errorf("advance journey %s: customer %s: no next step", journey, customerID)
		}
		due = ms(next.DueAt)
	case domain.JourneyExited, domain.JourneyCompleted:
		nextStep, ended = "", ms(next.EndedAt)
	default:
		return false, fmt.Errorf("advance journey %s: customer %s: unknown status %q", journey, customerID, next.Status)
	}
	res, err := f.tx.ExecContext(f.ctx, `UPDATE journey_state SET next_step = ?, due_at = ?, status = ?, ended_at = ?
		WHERE journey = ? AND customer_id = ? AND entry = ? AND next_step = ? AND status = 'entered'`,
		nextStep, due, next.Status, ended, journey, customerID, entry, from)
	if err != nil {
		return false, fmt.Errorf("advance journey %s: customer %s: %w", journey, customerID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("advance journey %s: customer %s: %w", journey, customerID, err)
	}
	return n == 1, nil
}

// DueJourneySteps returns up to limit states of customers in journey
// whose next step is due by at, the earliest due first.
func (d *DB) DueJourneySteps(ctx context.Context, journey string, at time.Time, limit int) ([]domain.JourneyState, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+journeyCols+` FROM journey_state
		WHERE journey = ? AND status = 'entered' AND due_at <= ? ORDER BY due_at, customer_id LIMIT ?`, journey, ms(at), limit)
	if err != nil {
		return nil, fmt.Errorf("read due journey steps: %w", err)
	}
	return scanJourneyStates(rows)
}

// CustomerJourneys returns the customer's state in every journey they
// entered, by journey.
func (d *DB) CustomerJourneys(ctx context.Context, customerID string) ([]domain.JourneyState, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+journeyCols+` FROM journey_state WHERE customer_id = ? ORDER BY journey`, customerID)
	if err != nil {
		return nil, fmt.Errorf("read customer journeys: %w", err)
	}
	return scanJourneyStates(rows)
}

// JourneyStates returns every customer's state in journey, by customer.
func (d *DB) JourneyStates(ctx context.Context, journey string) (map[string]domain.JourneyState, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+journeyCols+` FROM journey_state WHERE journey = ?`, journey)
	if err != nil {
		return nil, fmt.Errorf("read journey states: %w", err)
	}
	sts, err := scanJourneyStates(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]domain.JourneyState, len(sts))
	for _, st := range sts {
		out[st.CustomerID] = st
	}
	return out, nil
}

const journeyCols = `journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at`

func scanJourneyStates(rows *sql.Rows) ([]domain.JourneyState, error) {
	defer rows.Close()
	var out []domain.JourneyState
	for rows.Next() {
		var st domain.JourneyState
		var entered int64
		var due, ended sql.NullInt64
		var holdout int
		if err := rows.Scan(&st.Journey, &st.CustomerID, &st.Entry, &entered, &st.Hash, &st.NextStep, &due, &st.Status, &holdout, &ended); err != nil {
			return nil, fmt.Errorf("read journey state: %w", err)
		}
		st.EnteredAt, st.Holdout = fromMs(entered), holdout == 1
		if due.Valid {
			st.DueAt = fromMs(due.Int64)
		}
		if ended.Valid {
			st.EndedAt = fromMs(ended.Int64)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read journey state: %w", err)
	}
	return out, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// EnterJourneys records entries, each the customer's entry numbered
// st.Entry into st.Journey, and reports for each whether it was recorded:
// not when the stored state does not allow it, because the customer is in
// the journey now or that entry was recorded already (by a racing
// process). Whether a customer may enter again after their last journey
// ended (reenter) is the engine's to decide; the store keeps the entries
// in sequence. One statement per chunk: a statement per entry, prepared
// each time, cost three times the entries' own work.
func (f *fireTx) EnterJourneys(sts []domain.JourneyState) ([]bool, error) {
	ok := make([]bool, len(sts))
	byCustomer := make(map[string]int, len(sts))
	start := 0
	for _, size := range chunkSizes(len(sts)) {
		chunk := sts[start : start+size]
		args := make([]any, 0, 8*size)
		for k, st := range chunk {
			if st.Entry < 1 || st.Status != domain.JourneyEntered || st.NextStep == "" {
				return nil, fmt.Errorf("enter journey %s: customer %s: an entry is numbered from 1 and has a step due", st.Journey, st.CustomerID)
			}
			key := st.Journey + "\x00" + st.CustomerID
			if _, dup := byCustomer[key]; dup {
				return nil, fmt.Errorf("enter journey %s: customer %s entered twice in one batch", st.Journey, st.CustomerID)
			}
			byCustomer[key] = start + k
			args = append(args, st.Journey, st.CustomerID, st.Entry, ms(st.EnteredAt), st.Hash, st.NextStep, ms(st.DueAt), boolInt(st.Holdout))
		}
		// An entry is a row of its own, recorded only while the customer
		// is not in the journey and only as the entry after their last.
		rows, err := f.tx.QueryContext(f.ctx, f.db.multiRow(`INSERT INTO journey_state (journey, customer_id, entry, entered_at, hash, next_step, due_at, holdout, status)
			SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, 'entered' FROM (VALUES `, size, 8, `) AS v
			WHERE NOT EXISTS (SELECT 1 FROM journey_state s WHERE s.journey = v.column1 AND s.customer_id = v.column2 AND (s.status = 'entered' OR s.entry >= v.column3))
				AND (v.column3 = 1 OR EXISTS (SELECT 1 FROM journey_state s WHERE s.journey = v.column1 AND s.customer_id = v.column2 AND s.entry = v.column3 - 1))
			ON CONFLICT DO NOTHING
			RETURNING journey, customer_id`), args...)
		if err != nil {
			return nil, fmt.Errorf("enter journeys: %w", err)
		}
		if err := markReturned(rows, byCustomer, ok); err != nil {
			return nil, fmt.Errorf("enter journeys: %w", err)
		}
		start += size
	}
	return ok, nil
}

// AdvanceJourneys moves entries into journeys, each from the step it was
// at (From) to its next step or its end (Next: NextStep and DueAt, or
// Status exited or completed and EndedAt), and reports for each whether
// it moved: not when the stored state is no longer at that step of that
// entry, because a racing process moved it first and this one must not
// act on the step.
func (f *fireTx) AdvanceJourneys(moves []domain.JourneyMove) ([]bool, error) {
	ok := make([]bool, len(moves))
	byCustomer := make(map[string]int, len(moves))
	// A batch's moves share their journey, steps and statuses: each is
	// made an interface once.
	var box boxes
	start := 0
	for _, size := range chunkSizes(len(moves)) {
		chunk := moves[start : start+size]
		args := f.argBuf(8 * size)
		for k, mv := range chunk {
			var next, due, ended any = box.string(mv.Next.NextStep), nil, nil
			switch mv.Next.Status {
			case domain.JourneyEntered:
				if mv.Next.NextStep == "" {
					return nil, fmt.Errorf("advance journey %s: customer %s: no next step", mv.Journey, mv.CustomerID)
				}
				due = ms(mv.Next.DueAt)
			case domain.JourneyExited, domain.JourneyCompleted:
				next, ended = box.string(""), ms(mv.Next.EndedAt)
			default:
				return nil, fmt.Errorf("advance journey %s: customer %s: unknown status %q", mv.Journey, mv.CustomerID, mv.Next.Status)
			}
			key := mv.Journey + "\x00" + mv.CustomerID
			if _, dup := byCustomer[key]; dup {
				return nil, fmt.Errorf("advance journey %s: customer %s moved twice in one batch", mv.Journey, mv.CustomerID)
			}
			byCustomer[key] = start + k
			args = append(args, box.string(mv.Journey), mv.CustomerID, mv.Entry, box.string(mv.From), next, due, box.string(mv.Next.Status), ended)
		}
		if err := f.advanceChunk(size, args, byCustomer, ok, start); err != nil {
			return nil, fmt.Errorf("advance journeys: %w", err)
		}
		start += size
	}
	return ok, nil
}

// advanceChunk runs one statement of AdvanceJourneys, prepared once per
// size (a statement read back with RETURNING was prepared anew each time,
// 40% of a pass). When it moved every row, as it nearly always does, all
// moved; else it is undone (which rows moved cannot be told after the
// fact: a racing process may have moved one to the same place) and run
// again after reading which rows are at the step their move is from;
// this transaction holds the write lock, so nothing moves in between. It
// sets ok for the chunk's moves, ok[offset:offset+size].
func (f *fireTx) advanceChunk(size int, args []any, byCustomer map[string]int, ok []bool, offset int) error {
	update := f.db.multiRow(`UPDATE journey_state SET next_step = v.column5, due_at = v.column6, status = v.column7, ended_at = v.column8
		FROM (VALUES `, size, 8, `) AS v
		WHERE journey_state.journey = v.column1 AND journey_state.customer_id = v.column2 AND journey_state.entry = v.column3
			AND journey_state.next_step = v.column4 AND journey_state.status = 'entered'`)
	if _, err := f.exec(`SAVEPOINT journey_moves`, nil); err != nil {
		return err
	}
	res, err := f.exec(update, args)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if int(n) != size {
		if _, err := f.exec(`ROLLBACK TO journey_moves`, nil); err != nil {
			return err
		}
		rows, err := f.tx.QueryContext(f.ctx, f.db.multiRow(`SELECT journey_state.journey, journey_state.customer_id FROM journey_state JOIN (VALUES `, size, 8, `) AS v
			ON journey_state.journey = v.column1 AND journey_state.customer_id = v.column2 AND journey_state.entry = v.column3
			AND journey_state.next_step = v.column4 AND journey_state.status = 'entered'`), args...)
		if err != nil {
			return err
		}
		if err := markReturned(rows, byCustomer, ok); err != nil {
			return err
		}
		if _, err := f.exec(update, args); err != nil {
			return err
		}
	} else {
		for i := offset; i < offset+size; i++ {
			ok[i] = true
		}
	}
	_, err = f.exec(`RELEASE journey_moves`, nil)
	return err
}

// markReturned sets ok[i] for each (journey, customer) rows returns, i
// being the item's index in byCustomer.
func markReturned(rows *sql.Rows, byCustomer map[string]int, ok []bool) error {
	defer rows.Close()
	for rows.Next() {
		var journey, customer string
		if err := rows.Scan(&journey, &customer); err != nil {
			return err
		}
		if i, found := byCustomer[journey+"\x00"+customer]; found {
			ok[i] = true
		}
	}
	return rows.Err()
}

// DueJourneySteps returns up to limit states of customers in journey
// whose next step is due by at, in order of due time and customer, after
// the one after names. The index of due steps holds the customer too (the
// table's key): the order costs no sort.
func (d *DB) DueJourneySteps(ctx context.Context, journey string, at time.Time, after domain.DueCursor, limit int) ([]domain.JourneyState, error) {
	from := int64(math.MinInt64)
	if !after.DueAt.IsZero() {
		from = ms(after.DueAt)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+journeyCols+` FROM journey_state
		WHERE journey = ?1 AND status = 'entered' AND due_at <= ?2 AND (due_at, customer_id) > (?3, ?4)
		ORDER BY due_at, customer_id LIMIT ?5`, journey, ms(at), from, after.CustomerID, limit)
	if err != nil {
		return nil, fmt.Errorf("read due journey steps: %w", err)
	}
	return scanJourneyStates(rows, limit)
}

// CustomerJourneys returns the customer's latest entries into journeys
// (at most 100), by journey and entry: the last of each journey is where
// they are.
func (d *DB) CustomerJourneys(ctx context.Context, customerID string) ([]domain.JourneyState, error) {
	// The latest entries, at most maxCustomerJourneys of them: a journey
	// with a short reenter adds one per cycle.
	rows, err := d.db.QueryContext(ctx, `SELECT `+journeyCols+` FROM (SELECT * FROM journey_state WHERE customer_id = ?
		ORDER BY entered_at DESC, journey, entry DESC LIMIT ?) ORDER BY journey, entry`, customerID, maxCustomerJourneys)
	if err != nil {
		return nil, fmt.Errorf("read customer journeys: %w", err)
	}
	return scanJourneyStates(rows, 0)
}

// maxCustomerJourneys is how many of a customer's journey entries
// CustomerJourneys returns, the latest.
const maxCustomerJourneys = 100

// JourneyStates returns customers' states in journey, by customer: their
// latest entry. Nil customerIDs reads every customer's; otherwise only
// theirs (one seek of the table's key each).
func (d *DB) JourneyStates(ctx context.Context, journey string, customerIDs []string) (map[string]domain.JourneyState, error) {
	q, args := `SELECT `+journeyCols+` FROM journey_state WHERE journey = ? ORDER BY customer_id, entry`, []any{journey}
	if customerIDs != nil {
		ids, _ := json.Marshal(customerIDs)
		q = `SELECT ` + journeyCols + ` FROM journey_state WHERE journey = ? AND customer_id IN (SELECT value FROM json_each(?)) ORDER BY customer_id, entry`
		args = append(args, string(ids))
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read journey states: %w", err)
	}
	sts, err := scanJourneyStates(rows, len(customerIDs))
	if err != nil {
		return nil, err
	}
	out := make(map[string]domain.JourneyState, len(sts))
	for _, st := range sts {
		out[st.CustomerID] = st // the latest entry comes last
	}
	return out, nil
}

// JourneyWaiting reports whether a pass of journey waits for a decision
// at at: a run of it held, or one being approved (running, with held
// fires, decided within engine.ApprovalLease).
func (d *DB) JourneyWaiting(ctx context.Context, journey string, at time.Time) (bool, error) {
	var n int
	// The statuses are literals, as the partial index runs_waiting is.
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM runs r WHERE r.playbook = ? AND r.status IN ('held', 'running')
		AND (r.status = 'held' OR (r.decided_at > ? AND EXISTS (SELECT 1 FROM held_fires h WHERE h.run_id = r.id)))`,
		journey, ms(at.Add(-engine.ApprovalLease))).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read held runs: %w", err)
	}
	return n > 0, nil
}

// CountDueJourneySteps counts the customers in journey whose next step is
// due by at (from the index of due steps alone).
func (d *DB) CountDueJourneySteps(ctx context.Context, journey string, at time.Time) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM journey_state WHERE journey = ? AND status = 'entered' AND due_at <= ?`, journey, ms(at)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count due journey steps: %w", err)
	}
	return n, nil
}

// JourneyEntries returns every entry into journey, of every customer.
func (d *DB) JourneyEntries(ctx context.Context, journey string) ([]domain.JourneyState, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+journeyCols+` FROM journey_state WHERE journey = ? ORDER BY entered_at, customer_id, entry`, journey)
	if err != nil {
		return nil, fmt.Errorf("read journey entries: %w", err)
	}
	return scanJourneyStates(rows, 0)
}

// maxScanHint bounds the room scanJourneyStates makes before reading.
const maxScanHint = 1 << 14

const journeyCols = `journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at`

// scanJourneyStates reads rows of journeyCols, expecting about n of them.
// A batch of due steps names one journey, a few steps, statuses and
// playbook versions: those strings are shared, not allocated per row (a
// pass over 100,000 steps allocated half a gigabyte, a garbage collection
// every fifth of it).
func scanJourneyStates(rows *sql.Rows, n int) ([]domain.JourneyState, error) {
	defer rows.Close()
	out := make([]domain.JourneyState, 0, min(n, maxScanHint))
	in := profile.Interner{}
	var journey, hash, next, status sql.RawBytes
	for rows.Next() {
		out = append(out, domain.JourneyState{})
		st := &out[len(out)-1]
		var entered int64
		var due, ended sql.NullInt64
		var holdout int
		if err := rows.Scan(&journey, &st.CustomerID, &st.Entry, &entered, &hash, &next, &due, &status, &holdout, &ended); err != nil {
			return nil, fmt.Errorf("read journey state: %w", err)
		}
		st.Journey, st.Hash, st.NextStep, st.Status = in.Get(journey), in.Get(hash), in.Get(next), in.Get(status)
		st.EnteredAt, st.Holdout = fromMs(entered), holdout == 1
		if due.Valid {
			st.DueAt = fromMs(due.Int64)
		}
		if ended.Valid {
			st.EndedAt = fromMs(ended.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read journey state: %w", err)
	}
	return out, nil
}

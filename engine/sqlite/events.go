package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// Events go in with multi-row statements, up to rowsPerStatement rows
// each: a prepared one-row INSERT per event spent as much in database/sql
// and the driver's binding as in SQLite (koi bench, sustained ingest).
// The duplicate check comes first, in memory (eventids.go), then the
// customer check (knownCustomers), so a statement's rows are all new and
// all of known customers.

// insertEvent appends an event; its seq is the next rowid.
const insertEvent = `INSERT INTO events (id, customer_id, type, at, amount_fen, order_id, code, attrs)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// eventColumns is the number of values insertEvent binds per row.
const eventColumns = 8

// AddEvents is InsertEvents reporting each event's fate and the pond
// version. An event whose id is stored already, or earlier in the batch,
// is skipped (eventids.go keeps ids unique); one of an unknown customer is
// refused with its own error. known, when not nil, says which customers
// exist (engine.KnownCustomers). The transaction commits with
// synchronous=FULL: when it returns, every inserted event is durable.
func (d *DB) AddEvents(ctx context.Context, evs []domain.Event, known engine.KnownCustomers) (_ domain.AddedEvents, err error) {
	defer unavailableOn(&err)
	out := domain.AddedEvents{Inserted: make([]bool, len(evs))}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return out, fmt.Errorf("begin: %w", err)
	}
	defer end()
	// Bumping first tells known which version the batch starts from: the
	// transaction holds the write lock, so no one can move it meanwhile.
	if out.Version, err = bumpVersion(ctx, tx); err != nil {
		return out, err
	}
	// The write lock is held from BEGIN: no other connection adds events
	// or changes runs until this commits.
	x := d.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.syncLocked(ctx, tx); err != nil {
		return out, err
	}
	// The events to insert, in batch order: new ids, each once.
	added := make(map[string]int64, len(evs))
	todo := make([]int, 0, len(evs))
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
		added[e.ID] = 0
		todo = append(todo, i)
	}
	if todo, err = knownOnly(ctx, tx, evs, todo, out.Version-1, known, &out); err != nil {
		return out, err
	}
	for i := range out.ItemErrs {
		delete(added, evs[i].ID) // refused: the id stays free
	}
	ins := eventInserter{d: d, ctx: ctx, tx: tx, evs: evs, out: &out}
	rest := todo
	// SQLite gives a new row the highest rowid plus one. When the newest
	// events were deleted, that seq was used already: one the trigger
	// cursor has passed (the event would never be answered), or one in a
	// run's range (in neither the tail nor the run, its id free to be
	// taken again). The first event then takes the seq after both the runs
	// and the highest deleted explicitly; the others follow it.
	if floor := max(x.covered(), x.highSeq); len(rest) > 0 && x.storedMax < floor {
		if err := ins.at(rest[0], floor+1); err != nil {
			return out, err
		}
		rest = rest[1:]
	}
	start := 0
	for _, size := range chunkSizes(len(rest)) {
		if err := ins.chunk(rest[start : start+size]); err != nil {
			return out, err
		}
		start += size
	}
	for _, i := range todo {
		e := &evs[i]
		added[e.ID] = ins.seqs[i]
		if err := d.eventEffects(ctx, tx, e); err != nil {
			return out, err
		}
	}
	if err := d.commit(tx); err != nil {
		return out, fmt.Errorf("commit: %w", err)
	}
	x.addedLocked(added)
	x.added += int64(len(added))
	if !x.coverAsked && (x.added >= x.coverAfter || len(x.runs) > coverRunsAtOnce && x.added >= coverAfterManyRuns) {
		x.coverAsked = true
		x.coverer.kick()
	}
	if len(x.tail) >= x.flushAt {
		d.compactor.kick()
	}
	return out, nil
}

// knownOnly returns the events of todo (batch indexes) whose customers
// exist, and records an error for each of the others. It asks known about
// the pond version base, and reads the customers table when known cannot
// vouch for it. The write connection does not enforce foreign keys (see
// Open): this check is what keeps events of unknown customers out.
func knownOnly(ctx context.Context, tx *sql.Tx, evs []domain.Event, todo []int, base int64, known engine.KnownCustomers, out *domain.AddedEvents) ([]int, error) {
	if len(todo) == 0 {
		return todo, nil
	}
	ids := make([]string, len(todo))
	for k, i := range todo {
		ids[k] = evs[i].CustomerID
	}
	exists := make([]bool, len(ids))
	if known == nil || !known(base, ids, exists) {
		stored, err := storedCustomers(ctx, tx, ids)
		if err != nil {
			return nil, err
		}
		for k, id := range ids {
			exists[k] = stored[id]
		}
	}
	// An id merged into another customer is an alias: the event is the
	// survivor's (the pond has only them).
	var unknown []string
	for k, id := range ids {
		if !exists[k] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		survivors, err := aliasesOf(ctx, tx, unknown)
		if err != nil {
			return nil, err
		}
		for k, i := range todo {
			if s, ok := survivors[ids[k]]; ok && !exists[k] {
				evs[i].CustomerID, exists[k] = s, true
			}
		}
	}
	kept := todo[:0]
	for k, i := range todo {
		if exists[k] {
			kept = append(kept, i)
			continue
		}
		if out.ItemErrs == nil {
			out.ItemErrs = map[int]error{}
		}
		out.ItemErrs[i] = &domain.Error{Code: domain.EInvalid, Field: "customer_id", Message: fmt.Sprintf("unknown customer %q", evs[i].CustomerID)}
	}
	return kept, nil
}

// aliasesOf returns the survivors of those of ids that are aliases.
func aliasesOf(ctx context.Context, tx *sql.Tx, ids []string) (map[string]string, error) {
	enc, _ := json.Marshal(ids)
	rows, err := tx.QueryContext(ctx, `SELECT alias, customer_id FROM customer_aliases WHERE alias IN (SELECT value FROM json_each(?))`, string(enc))
	if err != nil {
		return nil, fmt.Errorf("read aliases: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var a, c string
		if err := rows.Scan(&a, &c); err != nil {
			return nil, fmt.Errorf("read aliases: %w", err)
		}
		out[a] = c
	}
	return out, rows.Err()
}

// storedCustomers returns which of ids are stored customers.
func storedCustomers(ctx context.Context, tx *sql.Tx, ids []string) (map[string]bool, error) {
	enc, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM customers WHERE id IN (SELECT value FROM json_each(?))`, string(enc))
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	defer rows.Close()
	out := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read customers: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// eventInserter writes a batch's new events, a statement per chunk.
type eventInserter struct {
	d    *DB
	ctx  context.Context
	tx   *sql.Tx
	evs  []domain.Event
	out  *domain.AddedEvents
	args []any
	// seqs holds the seq each inserted event got, by batch index.
	seqs []int64
}

// chunk inserts the events at the batch indexes given with one statement.
func (w *eventInserter) chunk(idx []int) error {
	if w.seqs == nil {
		w.seqs = make([]int64, len(w.evs))
	}
	last, err := w.insert(idx)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	// One statement under the write lock: its rows took consecutive
	// rowids, ending at the last.
	for k, i := range idx {
		w.out.Inserted[i] = true
		w.seqs[i] = last - int64(len(idx)-1-k)
	}
	return nil
}

// at inserts the event at batch index i with the given seq.
func (w *eventInserter) at(i int, seq int64) error {
	if w.seqs == nil {
		w.seqs = make([]int64, len(w.evs))
	}
	if err := w.bind([]int{i}); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	query := strings.Replace(insertEvent, "(id,", "(seq, id,", 1)
	query = strings.Replace(query, "VALUES (", "VALUES (?, ", 1)
	if _, err := w.tx.ExecContext(w.ctx, query, append([]any{seq}, w.args...)...); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	w.out.Inserted[i] = true
	w.seqs[i] = seq
	return nil
}

// bind sets w.args to the values of the events at the batch indexes given.
func (w *eventInserter) bind(idx []int) error {
	w.args = w.args[:0]
	for _, i := range idx {
		e := &w.evs[i]
		var attrs sql.NullString
		if len(e.Attrs) > 0 {
			b, err := json.Marshal(e.Attrs)
			if err != nil {
				return fmt.Errorf("event %s: attrs: %w", e.ID, err)
			}
			attrs = sql.NullString{String: string(b), Valid: true}
		}
		w.args = append(w.args, e.ID, e.CustomerID, e.Type, ms(e.At), e.AmountFen, e.OrderID, e.Code, attrs)
	}
	return nil
}

// insert runs one multi-row statement and returns the last rowid.
func (w *eventInserter) insert(idx []int) (int64, error) {
	if err := w.bind(idx); err != nil {
		return 0, err
	}
	query := insertEvent
	if len(idx) > 1 {
		query = w.d.multiRow(strings.TrimSuffix(insertEvent, "(?, ?, ?, ?, ?, ?, ?, ?)"), len(idx), eventColumns, "")
	}
	res, err := w.d.execRaw(w.ctx, query, w.args)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
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

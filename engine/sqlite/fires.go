package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

// FireMarks returns the latest fire of every (rule, customer) of a
// playbook, and of every (group, customer) of the groups given.
func (d *DB) FireMarks(ctx context.Context, playbook string, groups evaluate.GroupRules) (*evaluate.Marks, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT rule, customer_id, max(seq), max(at) FROM fires WHERE playbook = ? GROUP BY rule, customer_id`, playbook)
	if err != nil {
		return nil, fmt.Errorf("query fire marks: %w", err)
	}
	defer rows.Close()
	marks := &evaluate.Marks{Rules: map[evaluate.FireRef]evaluate.FireMark{}}
	for rows.Next() {
		var ref evaluate.FireRef
		var seq int
		var at int64
		if err := rows.Scan(&ref.Rule, &ref.CustomerID, &seq, &at); err != nil {
			return nil, err
		}
		marks.Rules[ref] = evaluate.FireMark{Seq: seq, At: fromMs(at)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := d.groupMarks(ctx, playbook, groups, marks); err != nil {
		return nil, err
	}
	return marks, nil
}

// FireHistory hands every fire to fn (engine.Store). It reads the table
// in rowid order, the cheapest way through it: grouping by rule and
// customer in SQL walked the unique index and looked up every row's time
// in the table besides, several times slower at ten million fires.
func (d *DB) FireHistory(ctx context.Context, fn func(ref evaluate.RuleRef, customerID []byte, seq int, at int64, group string, gseq int)) error {
	rows, err := d.db.QueryContext(ctx, `SELECT playbook, rule, customer_id, seq, at, coalesce(grp, ''), coalesce(gseq, 0) FROM fires`)
	if err != nil {
		return fmt.Errorf("query fire history: %w", err)
	}
	defer rows.Close()
	// One RuleRef and one group name string per distinct value, not per row.
	refs := map[string]map[string]evaluate.RuleRef{}
	groups := map[string]string{}
	var pb, rule, cust, grp sql.RawBytes
	for rows.Next() {
		var seq, gseq int
		var at int64
		if err := rows.Scan(&pb, &rule, &cust, &seq, &at, &grp, &gseq); err != nil {
			return fmt.Errorf("query fire history: %w", err)
		}
		byRule, ok := refs[string(pb)]
		if !ok {
			byRule = map[string]evaluate.RuleRef{}
			refs[string(pb)] = byRule
		}
		ref, ok := byRule[string(rule)]
		if !ok {
			ref = evaluate.RuleRef{Playbook: string(pb), Rule: string(rule)}
			byRule[ref.Rule] = ref
		}
		g := ""
		if len(grp) > 0 {
			if g, ok = groups[string(grp)]; !ok {
				g = string(grp)
				groups[g] = g
			}
		}
		fn(ref, cust, seq, at, g, gseq)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query fire history: %w", err)
	}
	return nil
}

// groupMarks adds the latest fire of each customer in each group to
// marks: the fires recorded in the group (through the partial index
// fires_group), and the fires of its rules from before they joined it,
// which have no group. Those of playbook's own rules are in marks.Rules
// already; the others are read by their fire key.
func (d *DB) groupMarks(ctx context.Context, playbook string, groups evaluate.GroupRules, marks *evaluate.Marks) error {
	marks.Groups = map[evaluate.FireRef]evaluate.FireMark{}
	by := map[[2]string]string{} // one string per rule, not per row
	name := func(pb, rule string) string {
		n, ok := by[[2]string{pb, rule}]
		if !ok {
			n = pb + "/" + rule
			by[[2]string{pb, rule}] = n
		}
		return n
	}
	for _, g := range groups.Names() {
		// SQLite takes the other columns from the row with max(gseq).
		err := d.scanGroupFires(ctx, `SELECT customer_id, max(gseq), at, playbook, rule FROM fires WHERE grp = ? GROUP BY customer_id`,
			[]any{g}, func(cust string, gseq int, at int64, pb, rule string) {
				marks.NoteGroupFire(g, cust, fromMs(at), gseq, name(pb, rule))
			})
		if err != nil {
			return fmt.Errorf("query group marks of %s: %w", g, err)
		}
		own := map[string]bool{}
		for _, ref := range groups[g] {
			if ref.Playbook == playbook {
				own[ref.Rule] = true
				continue
			}
			err := d.scanGroupFires(ctx, `SELECT customer_id, 0, max(at), playbook, rule FROM fires
				WHERE playbook = ? AND rule = ? AND grp IS NULL GROUP BY customer_id`,
				[]any{ref.Playbook, ref.Rule}, func(cust string, _ int, at int64, pb, rule string) {
					marks.NoteGroupFire(g, cust, fromMs(at), 0, name(pb, rule))
				})
			if err != nil {
				return fmt.Errorf("query group marks of %s: %w", g, err)
			}
		}
		if len(own) > 0 {
			for ref, m := range marks.Rules {
				if own[ref.Rule] {
					marks.NoteGroupFire(g, ref.CustomerID, m.At, 0, name(playbook, ref.Rule))
				}
			}
		}
	}
	return nil
}

// scanGroupFires runs a query of (customer, group number, time, playbook,
// rule) rows and hands each to fn.
func (d *DB) scanGroupFires(ctx context.Context, query string, args []any, fn func(cust string, gseq int, at int64, pb, rule string)) error {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cust, pb, rule string
		var gseq int
		var at int64
		if err := rows.Scan(&cust, &gseq, &at, &pb, &rule); err != nil {
			return err
		}
		fn(cust, gseq, at, pb, rule)
	}
	return rows.Err()
}

// WriteFires runs fn in one write transaction and returns the pond version
// it committed.
func (d *DB) WriteFires(ctx context.Context, now time.Time, fn func(tx engine.FireTx) error) (_ int64, err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer end()
	// Bumping first tells the batch which version it started from: the
	// transaction holds the write lock, so no one can move it meanwhile.
	version, err := bumpVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	// The write connection does not enforce foreign keys (see Open): the
	// customer of every coupon the batch issues is one staging found in
	// this transaction (stage.Effects.IssueCoupon).
	ftx := &fireTx{db: d, ctx: ctx, tx: tx, now: now, base: version - 1}
	if err := fn(ftx); err != nil {
		return 0, err
	}
	if err := d.commit(tx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	d.noteChanges(ftx.changes)
	return version, nil
}

// fireTx writes a batch of fires with multi-row statements: a few dozen
// statements per thousand fires instead of several per fire.
type fireTx struct {
	db   *DB
	ctx  context.Context
	tx   *sql.Tx
	now  time.Time
	base int64
	// nextFireID is the id the next inserted fire gets; 0 until read.
	nextFireID int64
	// changes counts the customer changes logged.
	changes int64
	// args is the statements' argument slice, reused: each statement's
	// arguments are bound before the next one's are built.
	args []any
}

// argBuf returns the argument slice emptied, with room for n values.
func (f *fireTx) argBuf(n int) []any {
	clear(f.args[:cap(f.args)]) // the last statement's strings can go
	if cap(f.args) < n {
		f.args = make([]any, 0, n)
	}
	return f.args[:0]
}

var _ engine.FireTx = (*fireTx)(nil)

// The multi-row statements below say OR FAIL rather than the default ABORT.
// Under ABORT, SQLite copies every page a statement changes into a
// statement journal first, to be able to undo just that statement; for the
// tag updates of a million-customer pond that copying was a quarter of
// their time. A failed statement here always fails the whole transaction,
// which is rolled back, so undoing the statement alone buys nothing.

// rowsPerStatement bounds multi-row statements well below SQLite's limit
// of 32766 bound parameters.
const rowsPerStatement = 500

// chunkSizes splits n rows into statements: full ones of rowsPerStatement,
// then the rest as powers of two, largest first. Every statement then has
// one of ten sizes and is prepared once per connection; parsing a
// statement of a few hundred rows costs SQLite about as much as running
// it, and a batch's last statement is rarely full.
func chunkSizes(n int) []int {
	var out []int
	for ; n >= rowsPerStatement; n -= rowsPerStatement {
		out = append(out, rowsPerStatement)
	}
	for p := 256; p > 0; p /= 2 {
		if n >= p {
			out = append(out, p)
			n -= p
		}
	}
	return out
}

// exec runs a multi-row statement, prepared once and reused, binding args
// straight to the driver (execRaw).
func (f *fireTx) exec(query string, args []any) (driver.Result, error) {
	return f.db.execRaw(f.ctx, query, args)
}

// boxes converts the values a batch repeats in every row (its run, rule,
// time) to interfaces once, not once per row: each conversion of a string
// or a large integer allocates.
type boxes struct {
	strings map[string]any
	ints    map[int64]any
}

func (b *boxes) string(s string) any { return boxOnce(&b.strings, s) }

func (b *boxes) int64(n int64) any { return boxOnce(&b.ints, n) }

func boxOnce[K comparable](m *map[K]any, k K) any {
	if v, ok := (*m)[k]; ok {
		return v
	}
	if *m == nil {
		*m = map[K]any{}
	}
	v := any(k)
	(*m)[k] = v
	return v
}

// BaseVersion returns the pond version before this transaction.
func (f *fireTx) BaseVersion() int64 { return f.base }

// InsertFires inserts the fires, skipping keys that exist. The
// transaction holds the write lock, so it numbers the fires itself, after
// the highest id there is: an insert then needs no RETURNING, and when a
// statement inserted every row, which is nearly always, nothing is read
// back at all.
func (f *fireTx) InsertFires(fires []*domain.Fire) ([]bool, error) {
	inserted := make([]bool, len(fires))
	if f.nextFireID == 0 {
		// Each table's max(id) is one seek; the view's would scan both.
		if err := f.tx.QueryRowContext(f.ctx, `SELECT max(coalesce((SELECT max(id) FROM fires_recent), 0),
			coalesce((SELECT max(id) FROM fires_archive), 0)) + 1`).Scan(&f.nextFireID); err != nil {
			return nil, fmt.Errorf("insert fires: next id: %w", err)
		}
	}
	start := 0
	for _, size := range chunkSizes(len(fires)) {
		chunk := fires[start : start+size]
		start += size
		first := f.nextFireID
		res, err := f.insertFireChunk(chunk)
		if err != nil {
			return nil, fmt.Errorf("insert fires: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("insert fires: %w", err)
		}
		if int(n) == len(chunk) {
			for i := range chunk {
				inserted[start-size+i] = true
			}
			continue
		}
		// Some keys existed: another run got there first. Ours are the
		// numbers that made it in.
		ids, err := f.existingFireIDs(first, f.nextFireID-1)
		if err != nil {
			return nil, fmt.Errorf("insert fires: %w", err)
		}
		for i, fr := range chunk {
			if ids[fr.ID] {
				inserted[start-size+i] = true
			} else {
				fr.ID = 0
			}
		}
	}
	return inserted, nil
}

// insertFireChunk numbers the fires of chunk and inserts them with one
// statement, skipping keys that exist.
//
// A run's batch of one playbook has its run, playbook, time, hash and
// write time in common: those are bound once, as numbered parameters
// every row refers to, and each row binds the six values of its own (the
// group's two too when a fire of the chunk has one), not thirteen: the
// driver copies every text it binds into memory of its own, and binding
// was a tenth of the writer's time at a million customers. Fires that do
// not share them bind every value.
func (f *fireTx) insertFireChunk(chunk []*domain.Fire) (driver.Result, error) {
	for _, fr := range chunk {
		fr.ID = f.nextFireID
		f.nextFireID++
	}
	written := time.Now().UnixMilli()
	grouped := slices.ContainsFunc(chunk, func(fr *domain.Fire) bool { return fr.Group != "" })
	if sharesFireValues(chunk) {
		c := chunk[0]
		plain := !slices.ContainsFunc(chunk, func(fr *domain.Fire) bool { return fr.Status != domain.FireFired || fr.Variant != "" })
		args := f.argBuf(sharedFireParams + 8*len(chunk)) // at most eight of its own a row
		args = append(args, c.RunID, c.Playbook, ms(c.At), c.Hash, written)
		var box boxes
		for _, fr := range chunk {
			args = append(args, fr.ID, box.string(fr.Rule), fr.CustomerID, fr.Seq)
			if !plain {
				args = append(args, box.string(fr.Status), box.string(fr.Variant))
			}
			if grouped {
				args = appendGroup(args, &box, fr)
			}
		}
		return f.exec(f.db.texts.text(sharedFireInsert(len(chunk), grouped, plain)), args)
	}
	args := f.argBuf(13 * len(chunk))
	var box boxes
	for _, fr := range chunk {
		args = append(args, fr.ID, box.int64(fr.RunID), box.string(fr.Playbook), box.string(fr.Rule), fr.CustomerID, fr.Seq,
			box.string(fr.Status), box.int64(ms(fr.At)), box.string(fr.Hash), box.string(fr.Variant))
		args = appendGroup(args, &box, fr)
		args = append(args, box.int64(written))
	}
	return f.exec(f.db.multiRow(insertFires, len(chunk), 13, ` ON CONFLICT DO NOTHING`), args)
}

// appendGroup appends a fire's benefit group and its number in the group:
// NULL for a fire of no group, which then has no entry in fires_group.
func appendGroup(args []any, box *boxes, fr *domain.Fire) []any {
	if fr.Group == "" {
		return append(args, nil, nil)
	}
	return append(args, box.string(fr.Group), fr.GroupSeq)
}

// sharedFireParams are the values the fires of a chunk share: run,
// playbook, time, hash and write time, parameters ?1 to ?5.
const sharedFireParams = 5

// sharesFireValues says whether the fires of chunk have their run,
// playbook, time and hash in common.
func sharesFireValues(chunk []*domain.Fire) bool {
	c := chunk[0]
	for _, fr := range chunk[1:] {
		if fr.RunID != c.RunID || fr.Playbook != c.Playbook || ms(fr.At) != ms(c.At) || fr.Hash != c.Hash {
			return false
		}
	}
	return true
}

// insertFires begins the insert of fires binding every value. In it and
// in sharedFireInsert either unique key may collide: the rule's
// (playbook, rule, customer_id, seq) or the benefit group's (grp,
// customer_id, gseq), with a fire of the last day (see migration 0017);
// ON CONFLICT DO NOTHING skips those rows.
const insertFires = `INSERT OR FAIL INTO fires_recent (id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq, written_at) VALUES `

// sharedFireInsert is the shape of the statement inserting rows fires that share values
// (sharedFireParams), bound first as ?1 to ?5 and named again by every
// row; each row's own values follow as anonymous parameters, which SQLite
// numbers on from the largest so far. (The driver looks each parameter's
// name up when it binds; an anonymous one has none to convert.)
//
// A plain chunk, every fire of it fired and of no variant (nearly all),
// has the status and the variant written into the statement: the driver
// copies each text it binds into memory of its own and keeps a record of
// it, and those two were half the texts a run bound for its fires.
func sharedFireInsert(rows int, grouped, plain bool) multiRow {
	own := "?, ?, ?, ?, ?, ?" // id, rule, customer_id, seq, status, variant
	if plain {
		own = "?, ?, ?, ?, '" + domain.FireFired + "', ''"
	}
	group := "NULL, NULL"
	if grouped {
		group = "?, ?"
	}
	row := "(?1, ?2, ?3, ?4, ?5, " + own + ", " + group + ")"
	return multiRow{head: `INSERT OR FAIL INTO fires_recent (run_id, playbook, at, hash, written_at, id, rule, customer_id, seq, status, variant, grp, gseq) VALUES `,
		row: row, tail: ` ON CONFLICT DO NOTHING`, rows: rows}
}

// existingFireIDs returns which fire ids in [lo, hi], numbers this
// transaction gave, made it into fires_recent.
func (f *fireTx) existingFireIDs(lo, hi int64) (map[int64]bool, error) {
	rows, err := f.tx.QueryContext(f.ctx, `SELECT id FROM fires_recent WHERE id BETWEEN ? AND ?`, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// DeleteFires removes fires by id: fires this transaction inserted, so
// in fires_recent.
func (f *fireTx) DeleteFires(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	enc, _ := json.Marshal(ids)
	if _, err := f.tx.ExecContext(f.ctx, `DELETE FROM fires_recent WHERE id IN (SELECT value FROM json_each(?))`, string(enc)); err != nil {
		return fmt.Errorf("delete failed fires: %w", err)
	}
	return nil
}

// CustomerStates reads tier, tags and guide of customers.
func (f *fireTx) CustomerStates(ids []string) (map[string]domain.CustomerState, error) {
	out := make(map[string]domain.CustomerState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	enc, _ := json.Marshal(ids)
	rows, err := f.tx.QueryContext(f.ctx, `SELECT id, tier, tags, guide FROM customers_now WHERE id IN (SELECT value FROM json_each(?))`, string(enc))
	if err != nil {
		return nil, fmt.Errorf("read customer states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, tier, raw, guide string
		if err := rows.Scan(&id, &tier, &raw, &guide); err != nil {
			return nil, fmt.Errorf("read customer states: %w", err)
		}
		var tags []string
		if err := json.Unmarshal([]byte(raw), &tags); err != nil {
			return nil, fmt.Errorf("decode tags of %s: %w", id, err)
		}
		out[id] = domain.CustomerState{Tier: tier, Tags: tags, Guide: guide}
	}
	return out, rows.Err()
}

// ApplyEffects writes coupons, tasks and jobs, and logs tags, tiers and
// guides, with multi-row statements.
func (f *fireTx) ApplyEffects(e *domain.BatchEffects) error {
	var box boxes
	start := 0
	for _, size := range chunkSizes(len(e.Coupons)) {
		chunk := e.Coupons[start : start+size]
		start += size
		args := f.argBuf(7 * len(chunk))
		for _, c := range chunk {
			args = append(args, c.Code, c.CustomerID, c.FireID, box.int64(c.AmountFen), box.int64(c.MinSpendFen), box.int64(ms(c.IssuedAt)), box.int64(ms(c.ExpiresAt)))
		}
		if _, err := f.exec(f.db.multiRow(`INSERT OR FAIL INTO coupons (code, customer_id, fire_id, amount_fen, min_spend_fen, issued_at, expires_at)
			VALUES `, len(chunk), 7, ""), args); err != nil {
			return fmt.Errorf("insert coupons: %w", err)
		}
	}
	tags := make(map[string]string, len(e.Tags))
	for id, t := range e.Tags {
		if t == nil {
			t = []string{}
		}
		enc, _ := json.Marshal(t)
		tags[id] = string(enc)
	}
	if err := f.appendChanges(tags, e.Tiers, e.Guides); err != nil {
		return err
	}
	if err := f.insertTasks(e.Tasks); err != nil {
		return err
	}
	if err := f.insertContacts(e.Contacts); err != nil {
		return err
	}
	return f.insertJobs(e.Jobs)
}

// insertContacts adds the batch's messages to the contact history.
func (f *fireTx) insertContacts(cs []domain.Contact) error {
	var box boxes
	start := 0
	for _, size := range chunkSizes(len(cs)) {
		chunk := cs[start : start+size]
		start += size
		args := f.argBuf(5 * len(chunk))
		for _, c := range chunk {
			args = append(args, c.CustomerID, box.string(c.Channel), box.int64(ms(c.At)), c.FireID, c.JobKey)
		}
		// A message is pending with its job until the dispatcher records
		// what became of it (syncContacts).
		if _, err := f.exec(f.db.multiRow(`INSERT OR FAIL INTO contacts (customer_id, channel, at, fire_id, job_key, state) SELECT *, 'pending' FROM (VALUES `, len(chunk), 5, `)`), args); err != nil {
			return fmt.Errorf("insert contacts: %w", err)
		}
	}
	return nil
}

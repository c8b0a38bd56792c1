package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// A merge (DESIGN §11) makes two customers one, in the transaction of the
// record that linked them: all of it or none, so a crash never leaves a
// customer half merged. The younger (by joined_at, then id) is merged
// into the older, the survivor:
//
//   - fields: tier the higher, guide the survivor's unless it has none,
//     tags and opt-outs the union (an opt-out is never lost), attrs the
//     survivor's with the other's keys it lacks, any other field the
//     survivor's unless empty, joined_at the earlier, member if either;
//   - rows keyed by customer move: events, coupons, contacts (frequency
//     caps), outbox jobs, tasks, held fires, identities, aliases;
//   - fires move and are numbered again, both customers' in time order,
//     per rule and per benefit group, so once, cooldowns and group caps
//     read the merged history as if one person had had it all along;
//   - journey entries are numbered again in time order too, with the
//     fires of their steps; of two entries under way the earlier stays,
//     the other ends as exited;
//   - the merged id becomes an alias of the survivor, and the merge is
//     recorded in merges.
//
// events has no index by customer (migration 0003), so a batch moves the
// events of all its merges in one pass over the table, at the end.

// merger makes the merges of one transaction.
type merger struct {
	ctx    context.Context
	tx     *sql.Tx
	now    time.Time
	tiers  []string
	source string
	// upsert is the batch's prepared customer upsert.
	upsert *sql.Stmt
	// aliases made in this transaction: merged id → survivor.
	aliases map[string]string
	// tagJobs is the batch's TagJobs; tagsBefore holds, for each customer
	// the batch writes, their tags before it (nil for a new customer).
	tagJobs    func(key, customerID string, before, after []string, force bool) []domain.NewJob
	tagsBefore map[string][]string
	// touched are the customers whose rows the transaction made in other
	// ways than a record's own upsert: merge survivors, customers a
	// record added to.
	touched map[string]bool
	// noAliases: the database had no alias when the transaction began,
	// so only those made in it need looking up (a bulk import's case).
	noAliases bool
	merges    []domain.Merge
	// pairs are the (playbook, rule) pairs with fires, read once.
	pairs     [][2]string
	pairsRead bool
}

// anyAliases reads whether the database has aliases.
func (m *merger) anyAliases() error {
	var any bool
	if err := m.tx.QueryRowContext(m.ctx, `SELECT EXISTS (SELECT 1 FROM customer_aliases)`).Scan(&any); err != nil {
		return fmt.Errorf("read aliases: %w", err)
	}
	m.noAliases = !any
	return nil
}

// canonical returns the customer an id names now: itself, or the
// survivor it was merged into.
func (m *merger) canonical(id string) (string, error) {
	if s, ok := m.aliases[id]; ok {
		return s, nil
	}
	if m.noAliases {
		return id, nil
	}
	var s string
	switch err := m.tx.QueryRowContext(m.ctx, `SELECT customer_id FROM customer_aliases WHERE alias = ?`, id).Scan(&s); {
	case err == sql.ErrNoRows:
		return id, nil
	case err != nil:
		return "", fmt.Errorf("read alias %s: %w", id, err)
	}
	return s, nil
}

// recordTarget returns the customer a record is about, and whether it is
// their own record (its id is theirs: it replaces their fields) rather than
// one that adds to them (a merged id, or identities only). A record with
// identities only is about whoever has one of them, else a new customer
// named after the first (domain.CustomerIDFor), whose id it takes.
func (m *merger) recordTarget(c *domain.Customer) (string, bool, error) {
	if c.ID != "" {
		t, err := m.canonical(c.ID)
		return t, t == c.ID, err
	}
	for _, ident := range c.Identities {
		owner, err := m.owner(ident, "")
		if err != nil || owner != "" {
			return owner, false, err
		}
	}
	id := domain.CustomerIDFor(c.Identities[0])
	t, err := m.canonical(id)
	if err != nil {
		return "", false, err
	}
	var exists bool
	if err := m.tx.QueryRowContext(m.ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE id = ?)`, t).Scan(&exists); err != nil {
		return "", false, fmt.Errorf("read customer %s: %w", t, err)
	}
	if exists {
		return t, false, nil
	}
	c.ID = id
	return id, true, nil
}

// readNow reads a customer as they are now (pending changes folded in).
func (m *merger) readNow(id string) (domain.Customer, error) {
	c, err := scanCustomer(m.tx.QueryRowContext(m.ctx, `SELECT `+customerColumns+` FROM customers_now WHERE id = ?`, id))
	if err != nil {
		return c, fmt.Errorf("merge: read customer %s: %w", id, err)
	}
	return c, nil
}

// put writes c over its row, with its pending changes dropped (c holds
// them).
func (m *merger) put(c *domain.Customer) error {
	m.touch(c.ID)
	if err := dropChanges(m.ctx, m.tx, []string{c.ID}); err != nil {
		return err
	}
	return upsertCustomer(m.ctx, m.upsert, c, m.now)
}

// combine returns survivor s with what m adds to it.
func combine(s, o domain.Customer, tiers []string) domain.Customer {
	out := s
	if s.Tier == "" || rank(tiers, o.Tier) > rank(tiers, s.Tier) {
		out.Tier = cmp.Or(o.Tier, s.Tier)
	}
	for _, f := range []struct{ to, from *string }{{&out.Name, &o.Name}, {&out.Phone, &o.Phone}, {&out.Email, &o.Email},
		{&out.WeComID, &o.WeComID}, {&out.Birthday, &o.Birthday}, {&out.Guide, &o.Guide}} {
		if *f.to == "" {
			*f.to = *f.from
		}
	}
	if len(o.Tags) > 0 {
		tags := slices.Concat(s.Tags, o.Tags)
		slices.Sort(tags)
		out.Tags = slices.Compact(tags)
	}
	if len(o.Attrs) > 0 {
		out.Attrs = maps.Clone(s.Attrs)
		if out.Attrs == nil {
			out.Attrs = map[string]any{}
		}
		for k, v := range o.Attrs {
			if _, ok := out.Attrs[k]; !ok {
				out.Attrs[k] = v
			}
		}
	}
	out.OptOut = profile.UnionOptOut(s.OptOut, o.OptOut)
	out.Member = s.Member || o.Member
	if !o.JoinedAt.IsZero() && o.JoinedAt.Before(s.JoinedAt) {
		out.JoinedAt = o.JoinedAt
	}
	return out
}

// rank is a tier's place among tiers, lowest first; -1 for one not
// among them (or none), so that a configured tier beats it.
func rank(tiers []string, tier string) int {
	return slices.Index(tiers, tier)
}

// merge makes customers a and b one, linked by identity id, and returns
// the survivor.
func (m *merger) merge(a, b string, id domain.Identity) (string, error) {
	ca, err := m.readNow(a)
	if err != nil {
		return "", err
	}
	cb, err := m.readNow(b)
	if err != nil {
		return "", err
	}
	if cb.JoinedAt.Before(ca.JoinedAt) || (cb.JoinedAt.Equal(ca.JoinedAt) && cb.ID < ca.ID) {
		ca, cb = cb, ca
	}
	s, gone := ca.ID, cb.ID
	if err := m.noteTags(s); err != nil {
		return "", err
	}
	merged := combine(ca, cb, m.tiers)
	if err := m.put(&merged); err != nil {
		return "", err
	}
	if err := dropChanges(m.ctx, m.tx, []string{gone}); err != nil {
		return "", err
	}
	if cb.WeComID != "" && cb.WeComID != merged.WeComID {
		// Their wecom_id named them as a wecom_external_userid: it still
		// names the person, as an identity of the survivor.
		if _, err := m.tx.ExecContext(m.ctx, `INSERT INTO identities (kind, value, customer_id, added_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, value) DO NOTHING`, domain.IdentityWeComExtID, cb.WeComID, s, ms(m.now)); err != nil {
			return "", fmt.Errorf("merge: keep wecom_id: %w", err)
		}
	}
	if _, err := m.tx.ExecContext(m.ctx, `DELETE FROM customers WHERE id = ?`, gone); err != nil {
		return "", fmt.Errorf("merge: delete customer %s: %w", gone, err)
	}
	moved := map[string]int64{}
	// Journeys first: their held steps are numbered by entry, and move
	// with the entries.
	journeys, err := m.moveJourneys(s, gone)
	if err != nil {
		return "", err
	}
	if journeys > 0 {
		moved["journeys"] = journeys
	}
	for _, t := range []struct{ name, q string }{
		{"coupons", `UPDATE coupons SET customer_id = ? WHERE customer_id = ?`},
		{"contacts", `UPDATE contacts SET customer_id = ? WHERE customer_id = ?`},
		{"jobs", `UPDATE jobs SET customer_id = ? WHERE customer_id = ?`},
		{"tasks", `UPDATE tasks SET customer_id = ? WHERE customer_id = ?`},
		{"identities", `UPDATE identities SET customer_id = ? WHERE customer_id = ?`},
		{"aliases", `UPDATE customer_aliases SET customer_id = ? WHERE customer_id = ?`},
	} {
		res, err := m.tx.ExecContext(m.ctx, t.q, s, gone)
		if err != nil {
			return "", fmt.Errorf("merge: move %s: %w", t.name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			moved[t.name] = n
		}
	}
	for k, v := range m.aliases {
		if v == gone {
			m.aliases[k] = s
		}
	}
	fires, err := m.moveFires(s, gone)
	if err != nil {
		return "", err
	}
	if fires > 0 {
		moved["fires"] = fires
	}
	kind, value := id.Key()
	enc, _ := json.Marshal(moved)
	res, err := m.tx.ExecContext(m.ctx, `INSERT INTO merges (at, survivor, merged, kind, value, source, moved) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ms(m.now), s, gone, kind, value, m.source, string(enc))
	if err != nil {
		return "", fmt.Errorf("merge: record: %w", err)
	}
	mergeID, _ := res.LastInsertId()
	if _, err := m.tx.ExecContext(m.ctx, `INSERT INTO customer_aliases (alias, customer_id, merge_id) VALUES (?, ?, ?)`, gone, s, mergeID); err != nil {
		return "", fmt.Errorf("merge: alias %s: %w", gone, err)
	}
	m.aliases[gone] = s
	m.merges = append(m.merges, domain.Merge{ID: mergeID, At: m.now, Survivor: s, Merged: gone, Identity: id, Source: m.source, Moved: moved})
	return s, nil
}

// noteTags records a customer's tags before the batch writes them, once,
// when tag sync wants them.
func (m *merger) noteTags(id string) error {
	if m.tagJobs == nil {
		return nil
	}
	if _, ok := m.tagsBefore[id]; ok {
		return nil
	}
	if m.tagsBefore == nil {
		m.tagsBefore = map[string][]string{}
	}
	tags, err := m.readTags(id)
	if err != nil {
		return err
	}
	m.tagsBefore[id] = tags
	return nil
}

// readTags reads a customer's tags now (pending changes folded in); none
// for one not stored.
func (m *merger) readTags(id string) ([]string, error) {
	var raw string
	switch err := m.tx.QueryRowContext(m.ctx, `SELECT tags FROM customers_now WHERE id = ?`, id).Scan(&raw); {
	case err == sql.ErrNoRows:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read tags of %s: %w", id, err)
	}
	return decodeTags(id, raw)
}

// tagSyncJobs returns the tag sync jobs of the customers whose tags the
// batch changed, keyed by the batch's pond version.
func (m *merger) tagSyncJobs(version int64) ([]domain.NewJob, error) {
	var out []domain.NewJob
	// A survivor's contact may be the merged customer's now (their
	// wecom_id): its tags sync whether or not koi's changed.
	survivors := map[string]bool{}
	for _, mg := range m.merges {
		survivors[mg.Survivor] = true
	}
	for _, id := range slices.Sorted(maps.Keys(m.tagsBefore)) {
		if _, gone := m.aliases[id]; gone {
			continue // merged: the survivor's change is what counts
		}
		after, err := m.readTags(id)
		if err != nil {
			return nil, err
		}
		out = append(out, m.tagJobs(fmt.Sprintf("record@%d", version), id, m.tagsBefore[id], after, survivors[id])...)
	}
	return out, nil
}

// touch adds a customer to those the transaction touched.
func (m *merger) touch(id string) {
	if m.touched == nil {
		m.touched = map[string]bool{}
	}
	m.touched[id] = true
}

// finals returns the customers the transaction touched (see touched) as
// they are now, for the pond.
func (m *merger) finals() ([]domain.Customer, error) {
	var out []domain.Customer
	for _, id := range slices.Sorted(maps.Keys(m.touched)) {
		if _, gone := m.aliases[id]; gone {
			continue
		}
		c, err := m.readNow(id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// firePairs returns the (playbook, rule) pairs with fires.
func (m *merger) firePairs() ([][2]string, error) {
	if !m.pairsRead {
		pairs, err := fireRules(m.ctx, m.tx)
		if err != nil {
			return nil, err
		}
		m.pairs, m.pairsRead = pairs, true
	}
	return m.pairs, nil
}

// fireRow is one fire being numbered again.
type fireRow struct {
	table, customer string
	id, seq, at     int64
	grouped         bool
}

// fireTables are the tables fires live in (see migration 0017).
var fireTables = [2]string{"fires_recent", "fires_archive"}

// firesOf reads the fires of customer c under the given (playbook,
// rule) pairs, by pair: one statement a table, probing the fire key for
// each pair inside SQLite (fires have no index by customer alone).
func (m *merger) firesOf(pairs [][2]string, c string) (map[[2]string][]fireRow, error) {
	out := map[[2]string][]fireRow{}
	if len(pairs) == 0 {
		return out, nil
	}
	enc, _ := json.Marshal(pairs)
	for _, t := range fireTables {
		rows, err := m.tx.QueryContext(m.ctx, `SELECT p.value ->> 0, p.value ->> 1, f.id, f.seq, f.at, f.grp IS NOT NULL
			FROM json_each(?) p CROSS JOIN `+t+` f
			WHERE f.playbook = p.value ->> 0 AND f.rule = p.value ->> 1 AND f.customer_id = ?`, string(enc), c)
		if err != nil {
			return nil, fmt.Errorf("merge: read fires: %w", err)
		}
		for rows.Next() {
			var pair [2]string
			r := fireRow{table: t, customer: c}
			if err := rows.Scan(&pair[0], &pair[1], &r.id, &r.seq, &r.at, &r.grouped); err != nil {
				rows.Close()
				return nil, fmt.Errorf("merge: read fires: %w", err)
			}
			out[pair] = append(out[pair], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("merge: read fires: %w", err)
		}
	}
	return out, nil
}

// moveFires gives gone's fires to s. Each rule's fires of both are
// numbered again in time order; journey steps' fires (numbered by entry)
// were numbered by moveJourneys already.
func (m *merger) moveFires(s, gone string) (int64, error) {
	pairs, err := m.firePairs()
	if err != nil {
		return 0, err
	}
	var moved int64
	groups := map[string]bool{}
	goneFires, err := m.firesOf(pairs, gone)
	if err != nil {
		return 0, err
	}
	touched := slices.SortedFunc(maps.Keys(goneFires), func(x, y [2]string) int { return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1])) })
	sFires, err := m.firesOf(touched, s)
	if err != nil {
		return 0, err
	}
	for _, pair := range touched {
		mine, theirs := goneFires[pair], sFires[pair]
		moved += int64(len(mine))
		all := append(mine, theirs...)
		slices.SortFunc(all, func(x, y fireRow) int {
			return cmp.Or(cmp.Compare(x.at, y.at), cmp.Compare(x.customer, y.customer), cmp.Compare(x.seq, y.seq))
		})
		for k, r := range all {
			// Negative first: the new numbers may be the old ones of others.
			// A grouped fire's group number goes negative too, until the
			// group is numbered again below.
			if _, err := m.tx.ExecContext(m.ctx, `UPDATE `+r.table+` SET customer_id = ?, seq = ?,
				gseq = CASE WHEN grp IS NULL THEN gseq ELSE -id END WHERE id = ?`, s, -(k + 1), r.id); err != nil {
				return 0, fmt.Errorf("merge: move fire: %w", err)
			}
		}
		for _, t := range fireTables {
			if _, err := m.tx.ExecContext(m.ctx, `UPDATE `+t+` SET seq = -seq WHERE playbook = ? AND rule = ? AND customer_id = ? AND seq < 0`, pair[0], pair[1], s); err != nil {
				return 0, fmt.Errorf("merge: number fires: %w", err)
			}
			rows, err := m.tx.QueryContext(m.ctx, `SELECT DISTINCT grp FROM `+t+` WHERE playbook = ? AND rule = ? AND customer_id = ? AND grp IS NOT NULL`, pair[0], pair[1], s)
			if err != nil {
				return 0, fmt.Errorf("merge: read groups: %w", err)
			}
			for rows.Next() {
				var g string
				if err := rows.Scan(&g); err != nil {
					rows.Close()
					return 0, fmt.Errorf("merge: read groups: %w", err)
				}
				groups[g] = true
			}
			rows.Close()
		}
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		if err := m.numberGroup(g, s); err != nil {
			return 0, err
		}
	}
	return moved, nil
}

// numberGroup numbers s's fires in benefit group g again, in time order.
func (m *merger) numberGroup(g, s string) error {
	var all []fireRow
	for _, t := range fireTables {
		rows, err := m.tx.QueryContext(m.ctx, `SELECT id, gseq, at FROM `+t+` WHERE grp = ? AND customer_id = ?`, g, s)
		if err != nil {
			return fmt.Errorf("merge: read group %s: %w", g, err)
		}
		for rows.Next() {
			r := fireRow{table: t}
			if err := rows.Scan(&r.id, &r.seq, &r.at); err != nil {
				rows.Close()
				return fmt.Errorf("merge: read group %s: %w", g, err)
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("merge: read group %s: %w", g, err)
		}
	}
	slices.SortFunc(all, func(x, y fireRow) int { return cmp.Or(cmp.Compare(x.at, y.at), cmp.Compare(x.id, y.id)) })
	for _, r := range all {
		if _, err := m.tx.ExecContext(m.ctx, `UPDATE `+r.table+` SET gseq = -id WHERE id = ?`, r.id); err != nil {
			return fmt.Errorf("merge: number group %s: %w", g, err)
		}
	}
	for k, r := range all {
		if _, err := m.tx.ExecContext(m.ctx, `UPDATE `+r.table+` SET gseq = ? WHERE id = ?`, k+1, r.id); err != nil {
			return fmt.Errorf("merge: number group %s: %w", g, err)
		}
	}
	return nil
}

// moveJourneys gives gone's journey entries to s, numbering both's
// entries of each journey again in time order, and the fires of their
// steps with them. Of two entries under way the earlier stays; the other
// ends now as exited. It returns how many entries moved.
func (m *merger) moveJourneys(s, gone string) (int64, error) {
	rows, err := m.tx.QueryContext(m.ctx, `SELECT DISTINCT journey FROM journey_state WHERE customer_id = ?`, gone)
	if err != nil {
		return 0, fmt.Errorf("merge: read journeys: %w", err)
	}
	var journeys []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			rows.Close()
			return 0, fmt.Errorf("merge: read journeys: %w", err)
		}
		journeys = append(journeys, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("merge: read journeys: %w", err)
	}
	var moved int64
	for _, j := range journeys {
		n, err := m.moveJourney(j, s, gone)
		if err != nil {
			return 0, err
		}
		moved += n
	}
	return moved, nil
}

// journeyRow is one journey_state row as merging renumbers it.
type journeyRow struct {
	customer        string
	entry, newEntry int
	enteredAt       int64
	hash, next      string
	due, ended      sql.NullInt64
	status          string
	holdout         int
}

func (m *merger) moveJourney(j, s, gone string) (int64, error) {
	rows, err := m.tx.QueryContext(m.ctx, `SELECT customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at
		FROM journey_state WHERE journey = ? AND customer_id IN (?, ?)`, j, s, gone)
	if err != nil {
		return 0, fmt.Errorf("merge: read journey %s: %w", j, err)
	}
	var all []journeyRow
	for rows.Next() {
		var r journeyRow
		if err := rows.Scan(&r.customer, &r.entry, &r.enteredAt, &r.hash, &r.next, &r.due, &r.status, &r.holdout, &r.ended); err != nil {
			rows.Close()
			return 0, fmt.Errorf("merge: read journey %s: %w", j, err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("merge: read journey %s: %w", j, err)
	}
	byTime := func(x, y journeyRow) int {
		return cmp.Or(cmp.Compare(x.enteredAt, y.enteredAt), cmp.Compare(x.customer, y.customer), cmp.Compare(x.entry, y.entry))
	}
	slices.SortFunc(all, byTime)
	// The earliest entry under way stays under way, and becomes the
	// latest entry (the latest is where a customer is); the others end.
	// Ended entries go in the order they ended: the latest of them is
	// what reenter counts from.
	live := -1
	for i := range all {
		if all[i].status != domain.JourneyEntered {
			continue
		}
		if live < 0 {
			live = i
			continue
		}
		all[i].status, all[i].next, all[i].due = domain.JourneyExited, "", sql.NullInt64{}
		all[i].ended = sql.NullInt64{Int64: ms(m.now), Valid: true}
	}
	var liveRow *journeyRow
	if live >= 0 {
		r := all[live]
		liveRow = &r
		all = slices.Delete(all, live, live+1)
	}
	slices.SortStableFunc(all, func(x, y journeyRow) int { return cmp.Compare(x.ended.Int64, y.ended.Int64) })
	if liveRow != nil {
		all = append(all, *liveRow)
	}
	newEntry := map[[2]any]int{}
	var moved int64
	for i := range all {
		all[i].newEntry = i + 1
		newEntry[[2]any{all[i].customer, all[i].entry}] = i + 1
		if all[i].customer == gone {
			moved++
		}
	}
	if _, err := m.tx.ExecContext(m.ctx, `DELETE FROM journey_state WHERE journey = ? AND customer_id IN (?, ?)`, j, s, gone); err != nil {
		return 0, fmt.Errorf("merge: move journey %s: %w", j, err)
	}
	for _, r := range all {
		if _, err := m.tx.ExecContext(m.ctx, `INSERT INTO journey_state (journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j, s, r.newEntry, r.enteredAt, r.hash, r.next, r.due, r.status, r.holdout, r.ended); err != nil {
			return 0, fmt.Errorf("merge: move journey %s: %w", j, err)
		}
	}
	// Held steps (a pass the blast guard holds) are numbered by entry too.
	held, err := m.tx.QueryContext(m.ctx, `SELECT rowid, customer_id, seq FROM held_fires
		WHERE run_id IN (SELECT id FROM runs WHERE playbook = ? AND status IN ('held', 'running')) AND customer_id IN (?, ?)`, j, s, gone)
	if err != nil {
		return 0, fmt.Errorf("merge: read held steps of %s: %w", j, err)
	}
	type heldRow struct {
		rowid, seq int64
		customer   string
	}
	var hs []heldRow
	for held.Next() {
		var h heldRow
		if err := held.Scan(&h.rowid, &h.customer, &h.seq); err != nil {
			held.Close()
			return 0, fmt.Errorf("merge: read held steps of %s: %w", j, err)
		}
		hs = append(hs, h)
	}
	held.Close()
	if err := held.Err(); err != nil {
		return 0, fmt.Errorf("merge: read held steps of %s: %w", j, err)
	}
	for _, h := range hs {
		seq := h.seq
		if n, ok := newEntry[[2]any{h.customer, int(h.seq)}]; ok {
			seq = int64(n)
		}
		if _, err := m.tx.ExecContext(m.ctx, `UPDATE held_fires SET customer_id = ?, seq = ? WHERE rowid = ?`, s, seq, h.rowid); err != nil {
			return 0, fmt.Errorf("merge: move held steps of %s: %w", j, err)
		}
	}
	// The steps' fires are numbered by entry.
	pairs, err := m.firePairs()
	if err != nil {
		return 0, err
	}
	for _, pair := range pairs {
		if pair[0] != j {
			continue
		}
		var fires []fireRow
		for _, c := range []string{s, gone} {
			fs, err := m.firesOf([][2]string{pair}, c)
			if err != nil {
				return 0, err
			}
			fires = append(fires, fs[pair]...)
		}
		extra := len(all)
		for _, f := range fires {
			n, ok := newEntry[[2]any{f.customer, int(f.seq)}]
			if !ok { // an entry's fire without its entry: after them all
				extra++
				n = extra
			}
			if _, err := m.tx.ExecContext(m.ctx, `UPDATE `+f.table+` SET customer_id = ?, seq = ? WHERE id = ?`, s, -n, f.id); err != nil {
				return 0, fmt.Errorf("merge: move journey %s: %w", j, err)
			}
		}
		for _, t := range fireTables {
			if _, err := m.tx.ExecContext(m.ctx, `UPDATE `+t+` SET seq = -seq WHERE playbook = ? AND rule = ? AND customer_id = ? AND seq < 0`, pair[0], pair[1], s); err != nil {
				return 0, fmt.Errorf("merge: move journey %s: %w", j, err)
			}
		}
	}
	return moved, nil
}

// moveEvents gives the events and held fires of every customer merged
// in this transaction to their survivors, in one pass over each table
// (neither has an index by customer: ingest and holds would pay for it
// on every row), and adds the event counts to the merges' records.
func (m *merger) moveEvents() error {
	if len(m.aliases) == 0 {
		return nil
	}
	enc, _ := json.Marshal(slices.Sorted(maps.Keys(m.aliases)))
	if _, err := m.tx.ExecContext(m.ctx, `UPDATE held_fires SET customer_id = (SELECT customer_id FROM customer_aliases a WHERE a.alias = held_fires.customer_id)
		WHERE customer_id IN (SELECT value FROM json_each(?))`, string(enc)); err != nil {
		return fmt.Errorf("merge: move held fires: %w", err)
	}
	rows, err := m.tx.QueryContext(m.ctx, `SELECT seq, customer_id FROM events WHERE customer_id IN (SELECT value FROM json_each(?))`, string(enc))
	if err != nil {
		return fmt.Errorf("merge: read events: %w", err)
	}
	bySurvivor := map[string][]int64{}
	count := map[string]int64{}
	for rows.Next() {
		var seq int64
		var c string
		if err := rows.Scan(&seq, &c); err != nil {
			rows.Close()
			return fmt.Errorf("merge: read events: %w", err)
		}
		bySurvivor[m.aliases[c]] = append(bySurvivor[m.aliases[c]], seq)
		count[c]++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("merge: read events: %w", err)
	}
	for s, seqs := range bySurvivor {
		for start := 0; start < len(seqs); start += 10000 {
			chunk, _ := json.Marshal(seqs[start:min(start+10000, len(seqs))])
			if _, err := m.tx.ExecContext(m.ctx, `UPDATE events SET customer_id = ? WHERE seq IN (SELECT value FROM json_each(?))`, s, string(chunk)); err != nil {
				return fmt.Errorf("merge: move events: %w", err)
			}
		}
	}
	for i := range m.merges {
		mg := &m.merges[i]
		if n := count[mg.Merged]; n > 0 {
			mg.Moved["events"] = n
			enc, _ := json.Marshal(mg.Moved)
			if _, err := m.tx.ExecContext(m.ctx, `UPDATE merges SET moved = ? WHERE id = ?`, string(enc), mg.ID); err != nil {
				return fmt.Errorf("merge: record: %w", err)
			}
		}
	}
	return nil
}

// LatestMergeID returns the id of the newest merge (0: none).
func (d *DB) LatestMergeID(ctx context.Context) (int64, error) {
	var id int64
	if err := d.db.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM merges`).Scan(&id); err != nil {
		return 0, fmt.Errorf("read merges: %w", err)
	}
	return id, nil
}

// MergedSince returns the survivors (as they are now) of the merges newer
// than mark, in the fire transaction.
func (f *fireTx) MergedSince(mark int64) (map[string]bool, error) {
	rows, err := f.tx.QueryContext(f.ctx, `SELECT DISTINCT coalesce((SELECT customer_id FROM customer_aliases a WHERE a.alias = m.survivor), m.survivor)
		FROM merges m WHERE m.id > ?`, mark)
	if err != nil {
		return nil, fmt.Errorf("read merges: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read merges: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// ResolveAlias returns the customer an id names: the survivor when it was
// merged into another customer, else the id itself.
func (d *DB) ResolveAlias(ctx context.Context, id string) (string, error) {
	var s string
	if err := d.db.QueryRowContext(ctx, `SELECT coalesce((SELECT customer_id FROM customer_aliases WHERE alias = ?1), ?1)`, id).Scan(&s); err != nil {
		return "", fmt.Errorf("read alias %s: %w", id, err)
	}
	return s, nil
}

// CustomerAliases returns the ids merged into the customer.
func (d *DB) CustomerAliases(ctx context.Context, customerID string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT alias FROM customer_aliases WHERE customer_id = ? ORDER BY alias`, customerID)
	if err != nil {
		return nil, fmt.Errorf("read aliases: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("read aliases: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ListMerges returns merges, newest first.
func (d *DB) ListMerges(ctx context.Context, f domain.MergeFilter) ([]domain.Merge, error) {
	// A customer's merges are those whose survivor is them or any id
	// merged into them (a survivor may have been merged since); a merged
	// id stands for the customer it was merged into.
	q := `WITH who (id) AS (SELECT coalesce((SELECT customer_id FROM customer_aliases WHERE alias = ?2), ?2))
		SELECT id, at, survivor, merged, kind, value, source, moved FROM merges
		WHERE (?1 = 0 OR id < ?1)
			AND (?2 = '' OR survivor = (SELECT id FROM who)
				OR survivor IN (SELECT alias FROM customer_aliases WHERE customer_id = (SELECT id FROM who)))
		ORDER BY id DESC LIMIT ?3`
	args := []any{f.Before, f.CustomerID, domain.PageLimit(f.Limit)}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read merges: %w", err)
	}
	defer rows.Close()
	out := []domain.Merge{}
	for rows.Next() {
		var mg domain.Merge
		var at int64
		var kind, value, moved string
		if err := rows.Scan(&mg.ID, &at, &mg.Survivor, &mg.Merged, &kind, &value, &mg.Source, &moved); err != nil {
			return nil, fmt.Errorf("read merges: %w", err)
		}
		mg.At, mg.Identity = fromMs(at), domain.IdentityOfKey(kind, value)
		if err := json.Unmarshal([]byte(moved), &mg.Moved); err != nil {
			return nil, fmt.Errorf("merge %d: moved: %w", mg.ID, err)
		}
		out = append(out, mg)
	}
	return out, rows.Err()
}

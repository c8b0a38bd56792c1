package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// LoadPond reads all customers, events and coupons. The tables are split
// into rowid ranges scanned in parallel, each on its own connection and in
// its own read transaction; the pond version is read in each, and a load
// that straddled a write is retried, so the pond is one consistent state.
//
// When the pond image beside the database names the current pond version,
// the pond is read from it instead (see image.go).
func (d *DB) LoadPond(ctx context.Context) (*profile.Pond, error) {
	if v, err := d.PondVersion(ctx); err == nil {
		if p := d.loadImage(ctx, v); p != nil {
			return p, nil
		}
	}
	for attempt := 0; ; attempt++ {
		pond, consistent, err := d.loadPond(ctx)
		if err != nil || consistent || attempt == 4 {
			return pond, err
		}
	}
}

func (d *DB) loadPond(ctx context.Context) (*profile.Pond, bool, error) {
	workers := runtime.GOMAXPROCS(0)
	conns, err := d.readConns(ctx, workers)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		for _, c := range conns {
			c.rollback()
		}
	}()
	version := conns[0].version
	for _, c := range conns[1:] {
		if c.version != version {
			return nil, false, nil
		}
	}
	pond := profile.NewPond()
	pond.Version = version
	if err := loadCustomers(ctx, conns, pond); err != nil {
		return nil, false, fmt.Errorf("load customers: %w", err)
	}
	if err := applyChanges(ctx, conns[0], pond, newJSONCache()); err != nil {
		return nil, false, fmt.Errorf("load customer changes: %w", err)
	}
	if err := loadEvents(ctx, conns, pond); err != nil {
		return nil, false, fmt.Errorf("load events: %w", err)
	}
	if err := loadCoupons(ctx, conns[0], pond); err != nil {
		return nil, false, fmt.Errorf("load coupons: %w", err)
	}
	if err := loadContacts(ctx, conns[0], pond); err != nil {
		return nil, false, fmt.Errorf("load contacts: %w", err)
	}
	return pond, true, nil
}

// readConn is a connection holding an open read transaction.
type readConn struct {
	tx      *sql.Tx
	version int64
}

// rollback ends the read and gives the connection its usual page cache back.
func (c *readConn) rollback() {
	_, _ = c.tx.Exec(`PRAGMA cache_size = ` + pageCache)
	_ = c.tx.Rollback()
}

func (d *DB) readConns(ctx context.Context, n int) ([]*readConn, error) {
	var conns []*readConn
	for i := 0; i < n; i++ {
		tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			for _, c := range conns {
				c.rollback()
			}
			return nil, fmt.Errorf("begin read: %w", err)
		}
		c := &readConn{tx: tx}
		conns = append(conns, c)
		// A scan reads each page once: a large page cache would only hold
		// a hundred megabytes of pages nobody reads again.
		if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -4096`); err != nil {
			for _, c := range conns {
				c.rollback()
			}
			return nil, fmt.Errorf("shrink page cache: %w", err)
		}
		// The first read fixes the transaction's snapshot of the database.
		if err := tx.QueryRowContext(ctx, `SELECT version FROM pond_version WHERE id = 1`).Scan(&c.version); err != nil {
			for _, c := range conns {
				c.rollback()
			}
			return nil, fmt.Errorf("read pond version: %w", err)
		}
	}
	return conns, nil
}

// rowidRanges splits [1, max] into n ranges.
func rowidRanges(ctx context.Context, c *readConn, table string, n int) ([][2]int64, error) {
	var hi sql.NullInt64
	if err := c.tx.QueryRowContext(ctx, `SELECT max(rowid) FROM `+table).Scan(&hi); err != nil {
		return nil, err
	}
	step := hi.Int64/int64(n) + 1
	out := make([][2]int64, n)
	for i := range out {
		out[i] = [2]int64{int64(i) * step, int64(i+1) * step}
	}
	return out, nil
}

const customerColumns = `id, name, phone, email, wecom_id, tier, tags, attrs, member, joined_at, birthday, guide, opt_out`

// jsonCache decodes tags once per distinct text. Most customers share a
// handful of combinations, and sharing the decoded values saves hundreds
// of megabytes at a million customers. The engine never modifies a
// customer's tags in place, which is what makes sharing safe. The cache is
// bounded, so a pond of unique values costs no more than decoding each.
// (Attrs have an attrDecoder per loader.)
type jsonCache struct {
	mu   sync.Mutex
	tags map[string]*[]string
}

const jsonCacheLimit = 100_000

func newJSONCache() *jsonCache {
	return &jsonCache{tags: map[string]*[]string{}}
}

func (jc *jsonCache) decodeTags(raw []byte) (*[]string, error) {
	if string(raw) == "[]" {
		return nil, nil
	}
	return cachedDecode(&jc.mu, jc.tags, raw)
}

// attrDecoder decodes customers' attrs into the lists the pond keeps,
// once per distinct text, for one loader goroutine (a shared cache's lock
// cost more than it saved when most texts are unique).
type attrDecoder struct {
	cache map[string]profile.AttrList
	in    profile.AttrInterner
}

func (d *attrDecoder) decode(raw []byte) (profile.AttrList, error) {
	if len(raw) == 0 || string(raw) == "{}" {
		return profile.AttrList{}, nil
	}
	if l, ok := d.cache[string(raw)]; ok {
		return l, nil
	}
	l, err := d.in.ParseJSON(raw)
	if err != nil {
		return profile.AttrList{}, err
	}
	if d.cache == nil {
		d.cache = map[string]profile.AttrList{}
	}
	if len(d.cache) < jsonCacheLimit {
		d.cache[string(raw)] = l
	}
	return l, nil
}

// cachedDecode decodes raw once per distinct text, up to jsonCacheLimit.
func cachedDecode[T any](mu *sync.Mutex, cache map[string]T, raw []byte) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, nil
	}
	mu.Lock()
	v, ok := cache[string(raw)]
	mu.Unlock()
	if ok {
		return v, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, err
	}
	mu.Lock()
	if len(cache) < jsonCacheLimit {
		cache[string(raw)] = v
	}
	mu.Unlock()
	return v, nil
}

func loadCustomers(ctx context.Context, conns []*readConn, pond *profile.Pond) error {
	ranges, err := rowidRanges(ctx, conns[0], "customers", len(conns))
	if err != nil {
		return err
	}
	// Counting each range first lets every loader fill its own part of the
	// pond in place: no per-loader slices to copy a million customers from.
	counts := make([]int, len(ranges))
	total := 0
	for i, r := range ranges {
		if err := conns[0].tx.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE rowid > ? AND rowid <= ?`, r[0], r[1]).Scan(&counts[i]); err != nil {
			return err
		}
		total += counts[i]
	}
	all, birthdays := pond.AppendCustomers(total)
	jc := newJSONCache()
	g, gctx := errgroup.WithContext(ctx)
	off := 0
	for i, c := range conns {
		part, bdays := all[off:off+counts[i]], birthdays[off:off+counts[i]]
		off += counts[i]
		g.Go(func() error { return scanCustomers(gctx, c.tx, ranges[i], jc, part, bdays) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return pond.IndexCustomers(birthdays)
}

// pondCustomerColumns are the columns the pond keeps (see Pond.PutCustomer).
const pondCustomerColumns = `id, name, tier, tags, attrs, member, joined_at, birthday, guide, opt_out`

// scanCustomers fills out, and birthdays beside it, with the customers of
// rowid range r; out has exactly as many entries as the range holds.
func scanCustomers(ctx context.Context, tx *sql.Tx, r [2]int64, jc *jsonCache, out []profile.PondCustomer, birthdays []string) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+pondCustomerColumns+` FROM customers WHERE rowid > ? AND rowid <= ?`, r[0], r[1])
	if err != nil {
		return err
	}
	defer rows.Close()
	in := profile.Interner{}
	var attrsOf attrDecoder
	attrsOf.in.UseArena()
	var id, name, tier, tags, attrs, guide, birthday, optOut sql.RawBytes
	n := 0
	for rows.Next() {
		if n == len(out) {
			return fmt.Errorf("customers %d..%d: more rows than counted", r[0], r[1])
		}
		c := &out[n]
		var joined int64
		var member int
		if err := rows.Scan(&id, &name, &tier, &tags, &attrs, &member, &joined, &birthday, &guide, &optOut); err != nil {
			return err
		}
		c.ID, c.Name = attrsOf.in.Keep(id), attrsOf.in.Keep(name)
		c.SetTier(in.Get(tier))
		c.SetGuide(in.Get(guide))
		birthdays[n] = string(birthday) // parsed once all are loaded, then dropped
		c.Member = member != 0
		c.SetJoinedAt(fromMs(joined))
		list, err := jc.decodeTags(tags)
		if err != nil {
			return fmt.Errorf("customer %s: tags: %w", c.ID, err)
		}
		c.SetTagList(list)
		if c.Attrs, err = attrsOf.decode(attrs); err != nil {
			return fmt.Errorf("customer %s: attrs: %w", c.ID, err)
		}
		out, err := jc.decodeTags(optOut)
		if err != nil {
			return fmt.Errorf("customer %s: opt_out: %w", c.ID, err)
		}
		if out != nil {
			c.SetOptOut(*out)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != len(out) {
		return fmt.Errorf("customers %d..%d: %d rows, counted %d", r[0], r[1], n, len(out))
	}
	return nil
}

// eventQuery reads what profiles need, and only that: the order key of
// orders and refunds and the code of redemptions are folded into one
// column, and nothing is sorted, so the scan is sequential.
const eventQuery = `SELECT customer_id, type, at, amount_fen,
	CASE type WHEN 'order' THEN iif(order_id = '', id, order_id)
	          WHEN 'refund' THEN iif(order_id = '', id, order_id)
	          WHEN 'coupon_redeem' THEN code END
	FROM events WHERE rowid > ? AND rowid <= ?`

func loadEvents(ctx context.Context, conns []*readConn, pond *profile.Pond) error {
	ranges, err := rowidRanges(ctx, conns[0], "events", len(conns))
	if err != nil {
		return err
	}
	// Rowids are dense unless many events were deleted: a range's size
	// bounds its count and is a good estimate of it.
	capacities := make([]int, len(conns))
	for i, r := range ranges {
		capacities[i] = int(r[1] - r[0])
	}
	load := pond.NewEventLoad(capacities...)
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range conns {
		g.Go(func() error { return scanEvents(gctx, c.tx, ranges[i], pond, load.Part(i)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	load.Finish()
	return nil
}

func scanEvents(ctx context.Context, tx *sql.Tx, r [2]int64, pond *profile.Pond, b *profile.EventBatch) error {
	rows, err := tx.QueryContext(ctx, eventQuery, r[0], r[1])
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		cust, typ, ref sql.RawBytes
		at, amount     int64
		last           string
		idx            = -1
	)
	for rows.Next() {
		if err := rows.Scan(&cust, &typ, &at, &amount, &ref); err != nil {
			return err
		}
		// Events of one customer tend to be stored together.
		if string(cust) != last || idx < 0 {
			i, ok := pond.Lookup(string(cust))
			if !ok {
				idx = -1
				continue // the foreign key makes this impossible; be safe anyway
			}
			idx, last = i, string(cust)
		}
		b.Add(idx, typ, at, amount, ref)
	}
	return rows.Err()
}

func loadCoupons(ctx context.Context, c *readConn, pond *profile.Pond) error {
	rows, err := c.tx.QueryContext(ctx, `SELECT customer_id, code, issued_at, expires_at FROM coupons WHERE status != 'void'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cust string
		var cp domain.IssuedCoupon
		var issued, expires int64
		if err := rows.Scan(&cust, &cp.Code, &issued, &expires); err != nil {
			return err
		}
		if i, ok := pond.Lookup(cust); ok {
			cp.IssuedAt, cp.ExpiresAt = fromMs(issued), fromMs(expires)
			pond.AddCoupon(i, cp)
		}
	}
	return rows.Err()
}

// loadContacts reads the contact history, oldest first per customer.
func loadContacts(ctx context.Context, c *readConn, pond *profile.Pond) error {
	rows, err := c.tx.QueryContext(ctx, `SELECT customer_id, channel, at FROM contacts ORDER BY customer_id, at`)
	if err != nil {
		return err
	}
	defer rows.Close()
	in := profile.Interner{}
	var cust, channel sql.RawBytes
	var at int64
	last, idx := "", -1
	for rows.Next() {
		if err := rows.Scan(&cust, &channel, &at); err != nil {
			return err
		}
		if string(cust) != last || idx < 0 {
			i, ok := pond.Lookup(string(cust))
			if !ok {
				idx = -1
				continue
			}
			idx, last = i, string(cust)
		}
		pond.AddContact(idx, fromMs(at), in.Get(channel))
	}
	return rows.Err()
}

package profile

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
	"unique"

	"github.com/koihq/koi/engine/domain"
)

// Pond is the in-memory working set of an evaluation: every customer with
// their events in a compact form. SQLite stays the durable truth; the pond is
// built from it in bulk so evaluation never issues a query per customer.
type Pond struct {
	// Customers are the customers by pond index. A customer's record is
	// never changed in place: a change replaces it (copy on write), so a
	// snapshot can keep the record it computed a profile from, and read it
	// while the pond moves on.
	Customers []*PondCustomer
	events    [][]compactEvent
	// extraAt is, for each customer, 1 + the index of their coupons and
	// messages in extras, or 0 for none (see extras).
	extraAt []int32
	extras  []extras
	// birthdays caches each customer's parsed birthday (month*100 + day, 0
	// when unknown), so snapshots do not parse a date per customer.
	birthdays []uint16
	index     customerIndex
	types     typeTable
	typesMu   sync.Mutex // guards types while an EventLoad's parts intern in parallel
	// seen deduplicates event ids for ponds built from untrusted lists
	// (tests, imports); the store's primary key does it for loaded ponds.
	seen map[string]struct{}
	// Version is the store's pond version this pond reflects; see
	// Store.PondVersion.
	Version int64
	// extra is what the pond image it was read from carried besides it
	// (see TakeExtra).
	extra []byte
	// removed counts customers removed (deleted, merged into another):
	// a snapshot taken before may hold decisions for them.
	removed uint64
}

// compactEvent keeps what profiles need in 20 bytes, so ten million events
// fit comfortably in memory. Its fields are 32-bit halves: with a 64-bit
// field Go would align the event to 24 bytes, 40 MB more at ten million.
// Loops take events by pointer (e := &evs[k]): a struct of five fields is
// not kept in registers, and ranging by value copied each event through
// memory, which made counting events five times slower.
type compactEvent struct {
	atLo, atHi uint32 // unix milliseconds
	// ref tells one order key (order, refund) or code (coupon_redeem) of
	// the customer's from another (refKey).
	ref uint32
	// meta packs the amount in fen (high 48 bits) and the interned type
	// (low 16 bits); ValidateEvent bounds amounts to MaxAmountFen.
	metaLo, metaHi uint32
}

func newCompactEvent(at, amountFen int64, typ uint16, ref uint32) compactEvent {
	a := uint64(min(max(amountFen, 0), domain.MaxAmountFen))
	meta := a<<16 | uint64(typ)
	return compactEvent{atLo: uint32(at), atHi: uint32(uint64(at) >> 32), ref: ref, metaLo: uint32(meta), metaHi: uint32(meta >> 32)}
}

func (e *compactEvent) at() int64     { return int64(uint64(e.atHi)<<32 | uint64(e.atLo)) }
func (e *compactEvent) meta() uint64  { return uint64(e.metaHi)<<32 | uint64(e.metaLo) }
func (e *compactEvent) typ() uint16   { return uint16(e.metaLo) }
func (e *compactEvent) amount() int64 { return int64(e.meta() >> 16) }

// refKey returns the ref of an order key or coupon code: 32 bits of its
// 64-bit FNV-1a hash, folded. Refs are only compared among one customer's
// events, where two keys share one with a chance of about n²/2³³ for n
// keys: one customer in a hundred million with ten orders.
func refKey(h uint64) uint32 { return uint32(h ^ h>>32) }

// PondCustomer is a customer as the pond keeps it: the fields profiles
// read. The pond never changes one in place (see Pond.Customers). Contact details (phone, email, WeCom id) stay in the store, and
// the birthday is kept packed beside it; at a million customers that is
// 80 MB less.
type PondCustomer struct {
	ID   string
	Name string
	// tier and guide are few values many customers share (Tier, Guide).
	tier, guide label
	// tags are the customer's tags (Tags): a list that customers with the
	// same tags share where the loader could (SetTagList), 8 bytes here.
	tags   *[]string
	Attrs  AttrList
	Member bool
	// joined says whether the join time is known; joinedMs is it, in
	// unix milliseconds: a time.Time took 16 bytes more, 16 MB at a
	// million customers (joined sits in Member's padding).
	joined   bool
	joinedMs int64
	// optOut lists the channels the customer opted out of (OptOut): nil
	// for the many who opted out of none, 16 bytes less than a slice.
	optOut *[]string
}

// OptOut returns the channels the customer opted out of; OptOutAll in it
// means every channel.
func (c *PondCustomer) OptOut() []string {
	if c.optOut == nil {
		return nil
	}
	return *c.optOut
}

// SetOptOut sets the channels the customer opted out of.
func (c *PondCustomer) SetOptOut(channels []string) {
	c.optOut = nil
	if len(channels) > 0 {
		c.optOut = &channels
	}
}

// Tags returns the customer's tags. The list is shared: do not change it.
func (c *PondCustomer) Tags() []string {
	if c.tags == nil {
		return nil
	}
	return *c.tags
}

// SetTags sets the customer's tags.
func (c *PondCustomer) SetTags(tags []string) {
	c.tags = nil
	if len(tags) > 0 {
		c.tags = &tags
	}
}

// SetTagList sets the customer's tags to a list other customers may
// share: nothing may change *tags afterwards.
func (c *PondCustomer) SetTagList(tags *[]string) {
	c.tags = nil
	if tags != nil && len(*tags) > 0 {
		c.tags = tags
	}
}

// Tier returns the customer's member tier.
func (c *PondCustomer) Tier() string { return c.tier.String() }

// SetTier sets the customer's member tier.
func (c *PondCustomer) SetTier(tier string) { c.tier = makeLabel(tier) }

// Guide returns the customer's sales guide, "" for none.
func (c *PondCustomer) Guide() string { return c.guide.String() }

// SetGuide sets the customer's sales guide.
func (c *PondCustomer) SetGuide(guide string) { c.guide = makeLabel(guide) }

// label is a short string that many customers share, a tier or a guide:
// a handle of Go's unique package, which keeps one copy of each value, in
// 8 bytes where a string takes 16.
type label struct{ h unique.Handle[string] }

func makeLabel(s string) label {
	if s == "" {
		return label{}
	}
	return label{unique.Make(s)}
}

func (l label) String() string {
	if l == (label{}) {
		return ""
	}
	return l.h.Value()
}

// JoinedAt returns when the customer joined (UTC), the zero time when
// unknown.
func (c *PondCustomer) JoinedAt() time.Time {
	if !c.joined {
		return time.Time{}
	}
	return time.UnixMilli(c.joinedMs).UTC()
}

// SetJoinedAt sets when the customer joined, to the millisecond as the
// store keeps it; the zero time for unknown.
func (c *PondCustomer) SetJoinedAt(t time.Time) {
	c.joined, c.joinedMs = !t.IsZero(), 0
	if c.joined {
		c.joinedMs = t.UnixMilli()
	}
}

// JoinedAfter reports whether the customer joined after t: at t they were
// not in the pond yet.
func (c *PondCustomer) JoinedAfter(t time.Time) bool { return c.joined && c.joinedMs > t.UnixMilli() }

func pondCustomer(c *domain.Customer) *PondCustomer {
	pc := &PondCustomer{ID: c.ID, Name: c.Name, tier: makeLabel(c.Tier), guide: makeLabel(c.Guide), Attrs: NewAttrList(c.Attrs), Member: c.Member}
	pc.SetTags(c.Tags)
	pc.SetJoinedAt(c.JoinedAt)
	pc.SetOptOut(c.OptOut)
	return pc
}

// NewPond returns an empty pond.
func NewPond() *Pond {
	p := &Pond{seen: map[string]struct{}{}}
	p.types.init()
	return p
}

// Grow makes room for n more customers, so a bulk load does not copy the
// customer array over and over.
func (p *Pond) Grow(n int) {
	p.Customers = slices.Grow(p.Customers, n)
	p.events = slices.Grow(p.events, n)
	p.extraAt = slices.Grow(p.extraAt, n)
	p.birthdays = slices.Grow(p.birthdays, n)
	p.index.reserve(p.Customers, n)
}

// AppendCustomers appends n zero customers for a bulk loader to fill in
// place, in parallel, with their birthdays ("MM-DD", "YYYY-MM-DD" or
// empty) beside them; the loader then calls IndexCustomers. The records
// are allocated together: a million small allocations cost the load more.
func (p *Pond) AppendCustomers(n int) (cs []PondCustomer, birthdays []string) {
	p.Grow(n)
	start := len(p.Customers)
	slab := make([]PondCustomer, n)
	p.Customers = p.Customers[:start+n]
	for k := range slab {
		p.Customers[start+k] = &slab[k]
	}
	return slab, make([]string, n)
}

// IndexCustomers indexes the customers added by AppendCustomers, given the
// birthdays it returned. A duplicate id is an error: the store's primary
// key rules it out.
func (p *Pond) IndexCustomers(birthdays []string) error {
	first := len(p.events)
	if len(birthdays) != len(p.Customers)-first {
		return fmt.Errorf("%d birthdays for %d customers", len(birthdays), len(p.Customers)-first)
	}
	for i := first; i < len(p.Customers); i++ {
		c := p.Customers[i]
		if _, dup := p.index.get(p.Customers, c.ID); dup {
			return fmt.Errorf("customer %q loaded twice", c.ID)
		}
		p.index.put(p.Customers, i)
		p.events = append(p.events, nil)
		p.extraAt = append(p.extraAt, 0)
		p.birthdays = append(p.birthdays, packBirthday(birthdays[i-first]))
	}
	return nil
}

// Update replaces customer i's record with a copy changed by fn: records
// are never changed in place (see Pond.Customers). The caller holds the
// pond still.
func (p *Pond) Update(i int, fn func(c *PondCustomer)) {
	c := *p.Customers[i]
	fn(&c)
	p.Customers[i] = &c
}

// Removed counts the customers removed from the pond (deleted, merged into
// another). An index Lookup returned stays the same customer's while the
// count is unchanged: records are replaced in place and removed ones keep
// their slot.
func (p *Pond) Removed() uint64 { return p.removed }

// Len returns the number of customers.
func (p *Pond) Len() int { return len(p.Customers) }

// Lookup returns the index of a customer.
func (p *Pond) Lookup(id string) (int, bool) {
	return p.index.get(p.Customers, id)
}

// LookupAt is Lookup for a caller that knows where the customer was, at
// index hint (a run's decision, a journey's move): when the customer is
// still there it skips the index, each of whose probes reads the record
// of another customer, at a million customers a cache miss or more each
// (looking up each fire's customer by id was a twelfth of a run's writing). A
// customer keeps their index for good, and a removed one's slot keeps no
// id (RemoveCustomer), so a hint holding the id is the customer.
func (p *Pond) LookupAt(hint int, id string) (int, bool) {
	if hint >= 0 && hint < len(p.Customers) && id != "" && p.Customers[hint].ID == id {
		return hint, true
	}
	return p.Lookup(id)
}

// PutCustomer adds or replaces a customer and returns its index. The pond
// keeps what profiles read (see PondCustomer).
func (p *Pond) PutCustomer(c domain.Customer) int {
	if i, ok := p.index.get(p.Customers, c.ID); ok {
		c.OptOut = UnionOptOut(p.Customers[i].OptOut(), c.OptOut) // as the store does
		p.Customers[i] = pondCustomer(&c)
		p.birthdays[i] = packBirthday(c.Birthday)
		return i
	}
	if len(c.OptOut) > 0 {
		c.OptOut = UnionOptOut(nil, c.OptOut)
	}
	p.Customers = append(p.Customers, pondCustomer(&c))
	p.index.put(p.Customers, len(p.Customers)-1)
	p.events = append(p.events, nil)
	p.extraAt = append(p.extraAt, 0)
	p.birthdays = append(p.birthdays, packBirthday(c.Birthday))
	return len(p.Customers) - 1
}

// AddEvent adds an event of a known customer. It reports false for a
// duplicate event id or an unknown customer.
func (p *Pond) AddEvent(e domain.Event) bool {
	if _, dup := p.seen[e.ID]; dup && e.ID != "" {
		return false
	}
	i, ok := p.index.get(p.Customers, e.CustomerID)
	if !ok {
		return false
	}
	if e.ID != "" {
		p.seen[e.ID] = struct{}{}
	}
	p.appendEvent(i, e)
	return true
}

// AddLoadedEvent adds an event known to be unique, without tracking its id.
func (p *Pond) AddLoadedEvent(i int, e domain.Event) { p.appendEvent(i, e) }

func (p *Pond) appendEvent(i int, e domain.Event) {
	var ref uint32
	switch e.Type {
	case domain.EventOrder, domain.EventRefund:
		ref = refKey(hashString(e.OrderKey()))
	case domain.EventCouponRedeem:
		ref = refKey(hashString(e.Code))
	}
	ce := newCompactEvent(e.At.UnixMilli(), e.AmountFen, p.types.id(e.Type), ref)
	evs := p.events[i]
	// Keep events sorted by time, and those of one millisecond by value,
	// as a load from the store sorts them (EventLoad.Finish): which of two
	// orders with one key counts must not depend on how the pond was
	// loaded. Most arrive in order, so this is an append.
	if n := len(evs); n > 0 && byTimeThenValue(evs[n-1], ce) > 0 {
		// A late event goes into a new array: a snapshot being evaluated
		// may still read the old one, which must not shift under it.
		pos := sort.Search(n, func(k int) bool { return byTimeThenValue(evs[k], ce) > 0 })
		out := make([]compactEvent, 0, n+1)
		out = append(append(append(out, evs[:pos]...), ce), evs[pos:]...)
		evs = out
	} else {
		if len(evs) == cap(evs) {
			// A quarter more room, not append's double: loaded
			// customers' events fill their arrays exactly, and an
			// ingest that reaches every customer would otherwise leave
			// the pond's events taking twice their memory.
			grown := make([]compactEvent, len(evs), len(evs)+max(2, len(evs)/4))
			copy(grown, evs)
			evs = grown
		}
		evs = append(evs, ce)
	}
	p.events[i] = evs
}

func byTime(a, b compactEvent) int {
	switch {
	case a.at() < b.at():
		return -1
	case a.at() > b.at():
		return 1
	}
	return 0
}

// AddCoupon records an issued coupon for customer index i.
func (p *Pond) AddCoupon(i int, c domain.IssuedCoupon) {
	ex := p.extrasOf(i)
	ex.coupons = append(ex.coupons, c)
}

// EventCount returns the number of events held.
func (p *Pond) EventCount() int {
	n := 0
	for _, e := range p.events {
		n += len(e)
	}
	return n
}

// FNV-1a, written out so that hashing ten million order keys on load does
// not allocate a hash.Hash each; it equals hash/fnv's New64a.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// typeTable interns event type names. Profiles read it outside the pond's
// lock (count() in a filter or a run) while ingest adds types under it, so
// it has a lock of its own.
type typeTable struct {
	mu    sync.RWMutex
	ids   map[string]uint16
	names []string
}

// maxEventTypes bounds the interned event types to what a uint16 holds.
const maxEventTypes = 1 << 16

// The well-known types get fixed ids so profile code can switch on them.
const (
	typOrder uint16 = iota
	typRefund
	typShare
	typReferral
	typCouponRedeem
)

// init makes t hold the well-known types.
func (t *typeTable) init() {
	t.ids = map[string]uint16{}
	for _, n := range []string{domain.EventOrder, domain.EventRefund, domain.EventShare, domain.EventReferral, domain.EventCouponRedeem} {
		t.id(n)
	}
}

func (t *typeTable) id(name string) uint16 {
	t.mu.RLock()
	id, ok := t.ids[name]
	t.mu.RUnlock()
	if ok {
		return id
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[name]; ok {
		return id
	}
	if len(t.names) >= maxEventTypes {
		// Beyond this many distinct types the rest share one id; count()
		// cannot tell them apart, but nothing overflows.
		return maxEventTypes - 1
	}
	id = uint16(len(t.names))
	t.ids[name] = id
	t.names = append(t.names, name)
	return id
}

// name returns the name of type id, or "" for none.
func (t *typeTable) name(id uint16) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(id) < len(t.names) {
		return t.names[id]
	}
	return ""
}

// lookup returns a type's id without interning it.
func (t *typeTable) lookup(name string) (uint16, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id, ok := t.ids[name]
	return id, ok
}

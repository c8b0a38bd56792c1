package engine

import (
	"hash/fnv"
	"slices"
	"sort"
)

// Pond is the in-memory working set of an evaluation: every customer with
// their events in a compact form. SQLite stays the durable truth; the pond is
// built from it in bulk so evaluation never issues a query per customer.
type Pond struct {
	Customers []Customer
	events    [][]compactEvent
	coupons   [][]IssuedCoupon
	index     map[string]int
	types     typeTable
	// seen deduplicates event ids for ponds built from untrusted lists
	// (tests, imports); the store's primary key does it for loaded ponds.
	seen map[string]struct{}
}

// compactEvent keeps what profiles need in 32 bytes, so ten million events
// fit comfortably in memory.
type compactEvent struct {
	at     int64  // unix milliseconds
	amount int64  // fen
	ref    uint64 // hash of the order key (order, refund) or code (coupon_redeem)
	typ    uint16
}

// NewPond returns an empty pond.
func NewPond() *Pond {
	return &Pond{index: map[string]int{}, types: newTypeTable(), seen: map[string]struct{}{}}
}

// Len returns the number of customers.
func (p *Pond) Len() int { return len(p.Customers) }

// Lookup returns the index of a customer.
func (p *Pond) Lookup(id string) (int, bool) {
	i, ok := p.index[id]
	return i, ok
}

// PutCustomer adds or replaces a customer and returns its index.
func (p *Pond) PutCustomer(c Customer) int {
	if i, ok := p.index[c.ID]; ok {
		p.Customers[i] = c
		return i
	}
	p.index[c.ID] = len(p.Customers)
	p.Customers = append(p.Customers, c)
	p.events = append(p.events, nil)
	p.coupons = append(p.coupons, nil)
	return len(p.Customers) - 1
}

// AddEvent adds an event of a known customer. It reports false for a
// duplicate event id or an unknown customer.
func (p *Pond) AddEvent(e Event) bool {
	if _, dup := p.seen[e.ID]; dup && e.ID != "" {
		return false
	}
	i, ok := p.index[e.CustomerID]
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
func (p *Pond) AddLoadedEvent(i int, e Event) { p.appendEvent(i, e) }

func (p *Pond) appendEvent(i int, e Event) {
	ce := compactEvent{at: e.At.UnixMilli(), amount: e.AmountFen, typ: p.types.id(e.Type)}
	switch e.Type {
	case EventOrder, EventRefund:
		ce.ref = hashString(e.OrderKey())
	case EventCouponRedeem:
		ce.ref = hashString(e.Code)
	}
	evs := p.events[i]
	// Keep events sorted by time; loads arrive sorted, so this is an append.
	if n := len(evs); n > 0 && evs[n-1].at > ce.at {
		pos := sort.Search(n, func(k int) bool { return evs[k].at > ce.at })
		evs = slices.Insert(evs, pos, ce)
	} else {
		evs = append(evs, ce)
	}
	p.events[i] = evs
}

// AddCoupon records an issued coupon for customer index i.
func (p *Pond) AddCoupon(i int, c IssuedCoupon) { p.coupons[i] = append(p.coupons[i], c) }

// EventCount returns the number of events held.
func (p *Pond) EventCount() int {
	n := 0
	for _, e := range p.events {
		n += len(e)
	}
	return n
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// typeTable interns event type names.
type typeTable struct {
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

func newTypeTable() typeTable {
	t := typeTable{ids: map[string]uint16{}}
	for _, n := range []string{EventOrder, EventRefund, EventShare, EventReferral, EventCouponRedeem} {
		t.id(n)
	}
	return t
}

func (t *typeTable) id(name string) uint16 {
	if id, ok := t.ids[name]; ok {
		return id
	}
	if len(t.names) >= maxEventTypes {
		// Beyond this many distinct types the rest share one id; count()
		// cannot tell them apart, but nothing overflows.
		return maxEventTypes - 1
	}
	id := uint16(len(t.names))
	t.ids[name] = id
	t.names = append(t.names, name)
	return id
}

// lookup returns a type's id without interning it.
func (t *typeTable) lookup(name string) (uint16, bool) {
	id, ok := t.ids[name]
	return id, ok
}

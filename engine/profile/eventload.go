package profile

import (
	"cmp"
	"slices"
)

// EventLoad is a bulk load of a pond's events from the store: its parts
// are filled in parallel, each in its own region of one array, and that
// array becomes the pond's events, grouped by customer in place. Copying
// the parts into an array of their own held both at once, half a gigabyte
// at ten million events, which set the peak memory of a start-up.
type EventLoad struct {
	pond  *Pond
	evs   []compactEvent
	custs []int32 // custs[k] is the pond index of evs[k]'s customer
	parts []*EventBatch
}

// EventBatch is one part of an EventLoad, filled by one goroutine.
type EventBatch struct {
	pond  *Pond
	types map[string]uint16
	// off is where the part's region starts in its load's arrays; evs and
	// custs are that region until an Add finds it full and they move out
	// (spilled).
	off     int
	spilled bool
	custs   []int32
	evs     []compactEvent
}

// NewEventLoad returns a load of parts with room for about capacities[k]
// events each (an Add beyond it still works, at the cost of a copy).
func (p *Pond) NewEventLoad(capacities ...int) *EventLoad {
	total := 0
	for _, c := range capacities {
		total += max(c, 0)
	}
	l := &EventLoad{pond: p, evs: make([]compactEvent, total), custs: make([]int32, total)}
	off := 0
	for _, c := range capacities {
		c = max(c, 0)
		l.parts = append(l.parts, &EventBatch{pond: p, types: map[string]uint16{}, off: off,
			custs: l.custs[off : off : off+c], evs: l.evs[off : off : off+c]})
		off += c
	}
	return l
}

// Part returns part k, for one goroutine to fill.
func (l *EventLoad) Part(k int) *EventBatch { return l.parts[k] }

// Add adds an event of customer index i. ref is the order key for orders
// and refunds and the code for coupon redemptions. typ and ref may alias a
// driver's buffers: they are not kept.
func (b *EventBatch) Add(i int, typ []byte, at, amountFen int64, ref []byte) {
	id, ok := b.types[string(typ)]
	if !ok {
		name := string(typ)
		b.pond.typesMu.Lock()
		id = b.pond.types.id(name)
		b.pond.typesMu.Unlock()
		b.types[name] = id
	}
	var h uint32
	if ref != nil && (id == typOrder || id == typRefund || id == typCouponRedeem) {
		h = refKey(hashBytes(ref))
	}
	if len(b.evs) == cap(b.evs) {
		b.spilled = true // append moves the part out of its region
	}
	b.custs = append(b.custs, int32(i))
	b.evs = append(b.evs, newCompactEvent(at, amountFen, id, h))
}

// Len returns the number of events in the part.
func (b *EventBatch) Len() int { return len(b.evs) }

// Finish adds the load's events to its pond, which holds none yet: each
// customer's events become a slice of one array, sorted by time.
func (l *EventLoad) Finish() {
	evs, custs := l.gather()
	l.parts, l.evs, l.custs = nil, nil, nil
	p := l.pond
	start := groupByCustomer(evs, custs, len(p.Customers))
	for i := range p.Customers {
		lo, hi := start[i], start[i+1]
		// The full slice expression caps each customer's events, so a later
		// append reallocates instead of overwriting the neighbour's.
		p.events[i] = evs[lo:hi:hi]
	}
	parallel(len(p.Customers), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			// Grouping lost the store's order of events at the same
			// millisecond: order them by value, so a load is the same
			// whatever order its parts were read in.
			if e := p.events[i]; !slices.IsSortedFunc(e, byTimeThenValue) {
				slices.SortFunc(e, byTimeThenValue)
			}
		}
	})
}

// gather returns the parts' events and customers as one pair of arrays:
// the load's own, the parts moved down over the room they left unused,
// unless a part spilled out of its region or too much room went unused.
func (l *EventLoad) gather() ([]compactEvent, []int32) {
	n, spilled := 0, false
	for _, b := range l.parts {
		n += len(b.evs)
		spilled = spilled || b.spilled
	}
	if spilled || n < len(l.evs)-len(l.evs)/4 {
		evs, custs := make([]compactEvent, 0, n), make([]int32, 0, n)
		for _, b := range l.parts {
			evs, custs = append(evs, b.evs...), append(custs, b.custs...)
			b.evs, b.custs = nil, nil
		}
		return evs, custs
	}
	at := 0
	for _, b := range l.parts {
		// Moving down: copy handles the overlap.
		copy(l.evs[at:], b.evs)
		copy(l.custs[at:], b.custs)
		at += len(b.evs)
		b.evs, b.custs = nil, nil
	}
	return l.evs[:n:n], l.custs[:n:n]
}

// groupByCustomer reorders evs (and custs beside them) in place so that
// each customer's events are together, customers in index order, and
// returns where each customer's start: customer i's events are
// evs[start[i]:start[i+1]]. It is a counting sort that moves each event
// straight to its place (an American flag sort), so it needs no second
// array of events. The order of a customer's events is not kept.
func groupByCustomer(evs []compactEvent, custs []int32, customers int) []int {
	start := make([]int, customers+1)
	for _, c := range custs {
		start[c+1]++
	}
	for i := 1; i <= customers; i++ {
		start[i] += start[i-1]
	}
	next := make([]int, customers)
	copy(next, start[:customers])
	for c := range customers {
		end := start[c+1]
		for k := next[c]; k < end; k = next[c] {
			d := custs[k]
			if int(d) == c {
				next[c]++
				continue
			}
			// Move the event at k to the next free place of its customer,
			// and look at what was there next.
			j := next[d]
			next[d]++
			evs[k], evs[j] = evs[j], evs[k]
			// What comes to k is looked at next; what goes to j is in
			// place and never looked at again, so its customer need not
			// go with it.
			custs[k] = custs[j]
		}
	}
	return start
}

func byTimeThenValue(a, b compactEvent) int {
	if c := cmp.Compare(a.at(), b.at()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.meta(), b.meta()); c != 0 {
		return c
	}
	return cmp.Compare(a.ref, b.ref)
}

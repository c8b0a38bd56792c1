package profile

import (
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// The pond packs an event's amount and type into one word; the largest
// amount it accepts must come back whole, next to its type.
func TestCompactEventKeepsTheLargestAmount(t *testing.T) {
	for _, amount := range []int64{0, 1, 123_456_789, domain.MaxAmountFen} {
		e := newCompactEvent(1, amount, 0xfffe, 42)
		if e.amount() != amount || e.typ() != 0xfffe || e.ref != 42 || e.at != 1 {
			t.Errorf("amount %d: got amount %d type %#x", amount, e.amount(), e.typ())
		}
	}
}

// An event added to a customer whose events fill their array takes a
// quarter more room, not twice: at a million customers the difference is
// a quarter of a gigabyte after an ingest that reaches everyone.
func TestAddedEventsGrowArraysByAQuarter(t *testing.T) {
	p := NewPond()
	i := p.PutCustomer(domain.Customer{ID: "c", JoinedAt: time.Unix(0, 0)})
	p.events[i] = make([]compactEvent, 40) // as a load leaves them: full
	for k := range 40 {
		p.events[i][k].at = int64(k)
	}
	p.AddLoadedEvent(i, domain.Event{ID: "e", CustomerID: "c", Type: "visit", At: time.UnixMilli(100)})
	if n, c := len(p.events[i]), cap(p.events[i]); n != 41 || c > 51 {
		t.Errorf("%d events in room for %d; want 41 in at most 51", n, c)
	}
	if last := p.events[i][40].at; last != 100 {
		t.Errorf("the added event is at %d", last)
	}
}

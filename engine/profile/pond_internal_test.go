package profile

import (
	"bytes"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/koihq/koi/engine/domain"
)

// The pond packs an event's amount and type into one word, and keeps
// every word in 32-bit halves; the largest amount it accepts and any time
// must come back whole, next to the type.
func TestCompactEventKeepsTheLargestAmount(t *testing.T) {
	for _, at := range []int64{1, time.Date(2026, 12, 1, 3, 4, 5, 6e6, time.UTC).UnixMilli(), -1, 1<<62 + 3} {
		for _, amount := range []int64{0, 1, 123_456_789, 1<<32 + 7, domain.MaxAmountFen} {
			e := newCompactEvent(at, amount, 0xfffe, 0xdeadbeef)
			if e.amount() != amount || e.typ() != 0xfffe || e.ref != 0xdeadbeef || e.at() != at {
				t.Errorf("at %d, amount %d: got at %d amount %d type %#x ref %#x", at, amount, e.at(), e.amount(), e.typ(), e.ref)
			}
		}
	}
	if s := unsafe.Sizeof(compactEvent{}); s != 20 {
		t.Errorf("an event takes %d bytes", s)
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
		p.events[i][k] = newCompactEvent(int64(k), 0, 0, 0)
	}
	p.AddLoadedEvent(i, domain.Event{ID: "e", CustomerID: "c", Type: "visit", At: time.UnixMilli(100)})
	if n, c := len(p.events[i]), cap(p.events[i]); n != 41 || c > 51 {
		t.Errorf("%d events in room for %d; want 41 in at most 51", n, c)
	}
	if last := p.events[i][40].at(); last != 100 {
		t.Errorf("the added event is at %d", last)
	}
}

// What the pond keeps per customer is what bounds its memory at a
// million customers (DESIGN §8: 1 GiB with ten million events): the
// record, and the snapshot's row of their profile.
func TestPerCustomerSizes(t *testing.T) {
	if s := unsafe.Sizeof(PondCustomer{}); s > 112 {
		t.Errorf("a customer's record takes %d bytes, more than 112", s)
	}
	if s := unsafe.Sizeof(row{}); s > 144 {
		t.Errorf("a snapshot row takes %d bytes, more than 144", s)
	}
}

// A customer who joined at the Unix epoch joined then; only the zero time
// means the join time is unknown.
func TestJoinTimeAtTheEpochIsKnown(t *testing.T) {
	var c PondCustomer
	if !c.JoinedAt().IsZero() || c.JoinedAfter(time.Unix(-1, 0)) {
		t.Error("a record without a join time has one")
	}
	c.SetJoinedAt(time.Unix(0, 0))
	if got := c.JoinedAt(); !got.Equal(time.Unix(0, 0)) || !c.JoinedAfter(time.Unix(-1, 0)) {
		t.Errorf("joined at the epoch: JoinedAt %v", got)
	}
	c.SetJoinedAt(time.Time{})
	if !c.JoinedAt().IsZero() {
		t.Error("setting the zero time left a join time")
	}
}

// Customers with the same tags share one list once read from an image:
// a list per customer would cost more than the record saves.
func TestImageSharesEqualTagLists(t *testing.T) {
	p := NewPond()
	for i, tags := range [][]string{{"vip", "mom"}, {"vip", "mom"}, {"vip"}, {"vip", "mom"}} {
		p.PutCustomer(domain.Customer{ID: string(rune('a' + i)), Tags: tags, JoinedAt: time.Unix(1, 0)})
	}
	w := &sliceWriterAt{}
	if err := p.View().WriteImage(w, [16]byte{}); err != nil {
		t.Fatal(err)
	}
	back, _, err := ReadImage(bytes.NewReader(w.data), int64(len(w.data)))
	if err != nil {
		t.Fatal(err)
	}
	c := back.Customers
	if c[0].tags != c[1].tags || c[1].tags != c[3].tags || c[2].tags == c[0].tags {
		t.Errorf("tag lists %p %p %p %p: the equal ones are not shared", c[0].tags, c[1].tags, c[2].tags, c[3].tags)
	}
	if !slices.Equal(c[3].Tags(), []string{"vip", "mom"}) || !slices.Equal(c[2].Tags(), []string{"vip"}) {
		t.Errorf("tags %v and %v", c[3].Tags(), c[2].Tags())
	}
}

// sliceWriterAt is an io.WriterAt in memory.
type sliceWriterAt struct{ data []byte }

func (w *sliceWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.data) {
		w.data = append(w.data, make([]byte, end-len(w.data))...)
	}
	return copy(w.data[off:], p), nil
}

package profile

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// TestEventLoadGroupsEachCustomersEvents loads events in random order
// through parts that leave room unused, parts that overflow their room,
// and parts left empty, and checks every customer ends with exactly their
// events, by time.
func TestEventLoadGroupsEachCustomersEvents(t *testing.T) {
	for _, tc := range []struct {
		name       string
		capacities []int // per part; events are dealt to parts in turn
		events     int
	}{
		{"exact room", []int{500, 500, 500}, 1500},
		{"a little room to spare", []int{600, 600, 600}, 1500},
		{"much room to spare", []int{900, 900, 900}, 1500},
		{"a part overflows", []int{100, 100, 100}, 1500},
		{"an empty part", []int{1000, 0, 1000}, 1500},
		{"no events", []int{10, 10}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			p := NewPond()
			const customers = 97
			for i := range customers {
				p.PutCustomer(domain.Customer{ID: string(rune('a'+i%26)) + string(rune('0'+i/26))})
			}
			want := make([][]compactEvent, customers)
			load := p.NewEventLoad(tc.capacities...)
			live := []int{}
			for k, c := range tc.capacities {
				if c > 0 {
					live = append(live, k)
				}
			}
			for n := range tc.events {
				c := rng.IntN(customers - 1) // the last customer has no events
				at := int64(rng.IntN(50))    // ties at the same millisecond too
				amount := int64(rng.IntN(3) * 100)
				ref := []byte{byte(rng.IntN(4))}
				load.Part(live[n%len(live)]).Add(c, []byte(domain.EventOrder), at, amount, ref)
				want[c] = append(want[c], newCompactEvent(at, amount, typOrder, refKey(hashBytes(ref))))
			}
			load.Finish()
			total := 0
			for c := range customers {
				got := p.events[c]
				total += len(got)
				if !slices.IsSortedFunc(got, byTime) {
					t.Fatalf("customer %d: events out of time order", c)
				}
				w := slices.Clone(want[c])
				slices.SortFunc(w, byTimeThenValue)
				if !slices.Equal(got, w) {
					t.Fatalf("customer %d: got %v, want %v", c, got, w)
				}
				if len(got) != cap(got) {
					t.Fatalf("customer %d: %d events with room for %d: an append would overwrite a neighbour", c, len(got), cap(got))
				}
			}
			if total != tc.events {
				t.Fatalf("%d events loaded, want %d", total, tc.events)
			}
		})
	}
}

// Events of one millisecond come out in the same order however the pond
// was built, so the profile does not depend on it: two orders with one
// key at the same moment count once, and the same one counts whether the
// events arrived live or were loaded from the store.
func TestLoadedAndLiveEventsAgreeAtOneMillisecond(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	evs := []domain.Event{
		{ID: "e1", CustomerID: "c", Type: domain.EventOrder, OrderID: "o1", At: at, AmountFen: 500},
		{ID: "e2", CustomerID: "c", Type: domain.EventOrder, OrderID: "o1", At: at, AmountFen: 300},
		{ID: "e3", CustomerID: "c", Type: "visit", At: at},
	}
	for _, order := range [][]int{{0, 1, 2}, {1, 0, 2}, {2, 1, 0}} {
		live := NewPond()
		live.PutCustomer(domain.Customer{ID: "c", JoinedAt: at.Add(-time.Hour)})
		loaded := NewPond()
		loaded.PutCustomer(domain.Customer{ID: "c", JoinedAt: at.Add(-time.Hour)})
		load := loaded.NewEventLoad(len(evs))
		for _, k := range order {
			e := evs[k]
			live.AddLoadedEvent(0, e)
			ref := []byte(e.OrderKey())
			if e.Type != domain.EventOrder {
				ref = nil
			}
			load.Part(0).Add(0, []byte(e.Type), e.At.UnixMilli(), e.AmountFen, ref)
		}
		load.Finish()
		if !slices.Equal(live.events[0], loaded.events[0]) {
			t.Fatalf("arrival %v: live %v, loaded %v", order, live.events[0], loaded.events[0])
		}
		a := ComputeSnapshot(live, at.Add(time.Hour), ProfileConfig{}).Profile(0)
		b := ComputeSnapshot(loaded, at.Add(time.Hour), ProfileConfig{}).Profile(0)
		if a.Spend != b.Spend || a.Orders != 1 || a.Spend != 3 { // the smaller amount: docs/playbooks.md
			t.Errorf("arrival %v: spend live %v, loaded %v; orders %d", order, a.Spend, b.Spend, a.Orders)
		}
	}
}

package profile

import (
	"fmt"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// TestCustomerIndexFindsEveryCustomer indexes customers one by one and in
// bulk, removes some, adds some of them back, and checks every id leads to
// its record and no other id leads anywhere.
func TestCustomerIndexFindsEveryCustomer(t *testing.T) {
	p := NewPond()
	const n = 5000
	for i := range n / 2 {
		p.PutCustomer(domain.Customer{ID: fmt.Sprintf("c%d", i)})
	}
	slab, birthdays := p.AppendCustomers(n - n/2)
	for k := range slab {
		slab[k].ID = fmt.Sprintf("c%d", n/2+k)
	}
	if err := p.IndexCustomers(birthdays); err != nil {
		t.Fatal(err)
	}
	removed := map[string]bool{}
	for i := 0; i < n; i += 7 {
		id := fmt.Sprintf("c%d", i)
		p.RemoveCustomer(id)
		removed[id] = true
	}
	// Half the removed come back, at new positions.
	back := 0
	for i := 0; i < n; i += 14 {
		id := fmt.Sprintf("c%d", i)
		if at := p.PutCustomer(domain.Customer{ID: id}); at < n {
			t.Fatalf("%s came back at %d, the position it had", id, at)
		}
		delete(removed, id)
		back++
	}
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		at, ok := p.Lookup(id)
		if removed[id] {
			if ok {
				t.Fatalf("removed %s found at %d", id, at)
			}
			continue
		}
		if !ok || p.Customers[at].ID != id {
			t.Fatalf("%s: found %v at %d", id, ok, at)
		}
	}
	for _, id := range []string{"", "c-1", fmt.Sprintf("c%d", n), "x"} {
		if at, ok := p.Lookup(id); ok {
			t.Fatalf("%q found at %d", id, at)
		}
	}
	if p.Len() != n+back {
		t.Fatalf("%d customers, want %d", p.Len(), n+back)
	}
	// Growing drops the removed customers' entries.
	before := p.index.used
	p.index.grow(p.Customers, 4*len(p.index.slots))
	if want := n - (n+6)/7 + back; p.index.used != want {
		t.Fatalf("%d entries after growing (%d before), want %d", p.index.used, before, want)
	}
}

// LookupAt finds a customer at the index it is given only when they are
// still there, and through the index otherwise: an index beyond the pond,
// another customer's, or the slot of a removed customer, whose id a new
// customer has taken since.
func TestLookupAtTrustsOnlyTheCustomerAtTheHint(t *testing.T) {
	p := NewPond()
	for _, id := range []string{"c0", "c1", "c2"} {
		p.PutCustomer(domain.Customer{ID: id})
	}
	for _, tc := range []struct {
		hint   int
		id     string
		want   int
		wantOK bool
	}{
		{1, "c1", 1, true},
		{0, "c2", 2, true},
		{-1, "c1", 1, true},
		{7, "c0", 0, true},
		{1, "", 0, false},
		{2, "c9", 0, false},
	} {
		if i, ok := p.LookupAt(tc.hint, tc.id); i != tc.want || ok != tc.wantOK {
			t.Errorf("LookupAt(%d, %q) = %d, %v; want %d, %v", tc.hint, tc.id, i, ok, tc.want, tc.wantOK)
		}
	}
	p.RemoveCustomer("c1")
	if i, ok := p.LookupAt(1, "c1"); ok {
		t.Errorf("LookupAt(1, c1) after its removal = %d, true; want not found", i)
	}
	back := p.PutCustomer(domain.Customer{ID: "c1"})
	if back == 1 {
		t.Fatal("a customer added again took the removed one's slot; the test needs a fresh one")
	}
	if i, ok := p.LookupAt(1, "c1"); i != back || !ok {
		t.Errorf("LookupAt(1, c1) after it came back = %d, %v; want %d, true", i, ok, back)
	}
}

package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// AddEvents reports each event: inserted, a duplicate (stored before, or
// earlier in the same batch), or refused for an unknown customer; the
// rest of the batch is stored either way. The batch spans a full
// prepared statement and a short one.
func TestAddEventsReportsEachEvent(t *testing.T) {
	f := newFixture(t)
	f.customers(10, 0)
	ctx := context.Background()
	ev := func(id, cust string) domain.Event {
		return domain.Event{ID: id, CustomerID: cust, Type: "visit", At: t0, Attrs: map[string]any{"page": id}}
	}
	if _, err := f.db.AddEvents(ctx, []domain.Event{ev("old-1", "c001"), ev("old-2", "c002")}, nil); err != nil {
		t.Fatal(err)
	}
	var batch []domain.Event
	want := map[int]string{} // index -> "new", "dup" or "unknown"
	for i := 0; i < 700; i++ {
		switch {
		case i == 3 || i == 650:
			batch = append(batch, ev(fmt.Sprintf("old-%d", 1+i%2), "c003"))
			want[i] = "dup"
		case i == 10 || i == 600:
			batch = append(batch, ev(fmt.Sprintf("e-%d", i), "nobody"))
			want[i] = "unknown"
		case i == 20:
			batch = append(batch, ev("e-5", "c004")) // the same id as event 5
			want[i] = "dup"
		default:
			batch = append(batch, ev(fmt.Sprintf("e-%d", i), fmt.Sprintf("c%03d", i%10)))
			want[i] = "new"
		}
	}
	v0, err := f.db.PondVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.db.AddEvents(ctx, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	newOnes := 0
	for i, w := range want {
		_, refused := res.ItemErrs[i]
		if res.Inserted[i] != (w == "new") || refused != (w == "unknown") {
			t.Errorf("event %d (%s): inserted %v, refused %v (%v)", i, w, res.Inserted[i], refused, res.ItemErrs[i])
		}
		if w == "new" {
			newOnes++
		}
	}
	if len(res.ItemErrs) != 2 {
		t.Errorf("item errors %v, want 2", res.ItemErrs)
	}
	if err, ok := res.ItemErrs[600].(*domain.Error); !ok || err.Field != "customer_id" {
		t.Errorf("item error of an unknown customer = %#v, want a customer_id field error", res.ItemErrs[600])
	}
	if n := f.count(`SELECT count(*) FROM events`); n != newOnes+2 {
		t.Errorf("%d events stored, want %d", n, newOnes+2)
	}
	if n := f.count(`SELECT count(*) FROM events WHERE id = 'e-5' AND customer_id = 'c005' AND attrs = '{"page":"e-5"}'`); n != 1 {
		t.Error("the first of two events with one id is not the one stored")
	}
	if res.Version != v0+1 {
		t.Errorf("version %d after %d", res.Version, v0)
	}
	// Each stored id is known with its own seq, what the multi-row
	// statements numbered around the refused events.
	if err := sqlite.CheckEventIDs(ctx, f.db, false); err != nil {
		t.Error(err)
	}
	again, err := f.db.AddEvents(ctx, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if again.Inserted[i] {
			t.Errorf("event %d (%s) sent again was stored again", i, w)
		}
	}
}

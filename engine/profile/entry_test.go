package profile_test

import (
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// The attributes since entry count what happened after the customer
// entered a journey, with the refund rules of orders and spend: an order
// before entry does not count, a refund after entry of an order before
// it takes nothing off, a fully refunded order after entry is no order.
func TestEntryAttributes(t *testing.T) {
	entered := now.Add(-72 * time.Hour)
	p := profile.NewPond()
	i := p.PutCustomer(domain.Customer{ID: "c1", Member: true, JoinedAt: now.Add(-400 * day)})
	for _, e := range []domain.Event{
		{ID: "o1", Type: "order", At: entered.Add(-time.Hour), AmountFen: 10000}, // before entry
		{ID: "v0", Type: "visit", At: entered.Add(-time.Minute)},                 // before entry
		{ID: "o2", Type: "order", At: entered.Add(time.Hour), AmountFen: 20000},  // after
		{ID: "r2", Type: "refund", At: entered.Add(2 * time.Hour), AmountFen: 5000, OrderID: "o2"},
		{ID: "o3", Type: "order", At: entered.Add(3 * time.Hour), AmountFen: 8000}, // fully refunded
		{ID: "r3", Type: "refund", At: entered.Add(4 * time.Hour), AmountFen: 8000, OrderID: "o3"},
		{ID: "r1", Type: "refund", At: entered.Add(5 * time.Hour), AmountFen: 10000, OrderID: "o1"}, // of the order before entry
		{ID: "o4", Type: "order", At: entered.Add(-2 * time.Hour), AmountFen: 3000},
		{ID: "o4-again", Type: "order", OrderID: "o4", At: entered.Add(6 * time.Hour), AmountFen: 3000}, // the same order: not since entry
		{ID: "v1", Type: "visit", At: entered.Add(time.Hour)},
		{ID: "v2", Type: "visit", At: entered.Add(48 * time.Hour)},
		{ID: "v3", Type: "visit", At: now.Add(time.Hour)}, // after now
	} {
		e.CustomerID = "c1"
		p.AddLoadedEvent(i, e)
	}
	snap := profile.ComputeSnapshot(p, now, profile.ProfileConfig{})
	var buf profile.ProfileBuf
	q := snap.Fill(i, &buf)
	if q.EnteredDays != nil || q.OrdersSinceEntry != 0 || q.CountSinceEntry("visit") != 0 {
		t.Fatalf("outside a journey: entered_days %v, orders_since_entry %d, visits %d", q.EnteredDays, q.OrdersSinceEntry, q.CountSinceEntry("visit"))
	}
	q.SetEntry(entered)
	if q.EnteredDays == nil || *q.EnteredDays != 3 {
		t.Errorf("entered_days = %v, want 3", q.EnteredDays)
	}
	if q.OrdersSinceEntry != 1 || q.SpendSinceEntry != 150 {
		t.Errorf("orders_since_entry %d, spend_since_entry %v; want 1 and 150", q.OrdersSinceEntry, q.SpendSinceEntry)
	}
	if n := q.CountSinceEntry("visit"); n != 2 {
		t.Errorf("count_since_entry(visit) = %d, want 2", n)
	}
	if n := q.CountSinceEntry("never-seen"); n != 0 {
		t.Errorf("count_since_entry of an unknown type = %d", n)
	}
	var m rules.Evaluator
	for src, want := range map[string]bool{
		`entered_days >= 3 && orders_since_entry == 1`:               true,
		`count_since_entry("visit") == 2 && spend_since_entry > 100`: true,
		`orders_since_entry > 1 || entered_days < 3`:                 false,
	} {
		c, err := rules.CompileExpr(src, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := c.Eval(&m, q)
		vm, vmErr := c.EvalVM(&m, q)
		if err != nil || vmErr != nil || got != want || vm != want {
			t.Errorf("%s: %v (%v), the VM %v (%v); want %v", src, got, err, vm, vmErr, want)
		}
	}
	// Refilled for the same customer: the entry is gone again.
	q = snap.Fill(i, &buf)
	if q.EnteredDays != nil || q.OrdersSinceEntry != 0 || q.SpendSinceEntry != 0 || q.CountSinceEntry("visit") != 0 {
		t.Errorf("a refill kept the entry: %v %d %v", q.EnteredDays, q.OrdersSinceEntry, q.SpendSinceEntry)
	}
}

package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

const thanks = `
name: thanks
holdout: 0%
schedule: "0 10 * * *"
rules:
  - id: first-order
    on: order
    when: orders == 1
    once: true
    actions:
      - tag: { add: [thanked] }
  - id: every-share
    on: share
    when: "true"
    cooldown: 1d
    actions:
      - coupon: { amount: 5, expires_in: 7d }
  - id: scheduled
    when: "true"
    once: true
    actions:
      - tag: { add: [scheduled] }
`

// Event-triggered rules run for the customers whose events arrived after
// the cursor, once per (rule, customer, period), and only for the types
// they are on; scheduled runs leave them alone.
func TestEventTriggeredRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("thanks", thanks)
	e := f.engine()
	now := t0
	opts := engine.TriggerOptions{Now: func() time.Time { return now }}

	// The first pass starts the cursor after the events that exist.
	if runs, err := e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 0 {
		t.Fatalf("first pass: %v %v", runs, err)
	}
	add := func(evs ...domain.Event) {
		t.Helper()
		if res, err := e.AddEvents(ctx, evs); err != nil || len(res.ItemErrs) > 0 {
			t.Fatal(err, res.ItemErrs)
		}
	}
	add(domain.Event{ID: "o1", CustomerID: "c000", Type: "order", At: now.Add(-time.Minute), AmountFen: 100},
		domain.Event{ID: "v1", CustomerID: "c001", Type: "visit", At: now.Add(-time.Minute)},
		domain.Event{ID: "old", CustomerID: "c002", Type: "order", At: now.Add(-48 * time.Hour), AmountFen: 100})
	runs, err := e.ProcessTriggers(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Fired != 1 || runs[0].Trigger != engine.TriggerEvent {
		t.Fatalf("runs = %+v", runs)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'first-order' AND customer_id = 'c000'`); n != 1 {
		t.Fatalf("c000 first-order fires = %d", n)
	}
	// c002's order is two days old when handled: too old to thank for.
	if n := f.count(`SELECT count(*) FROM fires WHERE customer_id IN ('c001', 'c002')`); n != 0 {
		t.Fatalf("fires for c001/c002 = %d", n)
	}
	cust, err := e.Customer(ctx, "c000")
	if err != nil || len(cust.Tags) != 1 || cust.Tags[0] != "thanked" {
		t.Fatalf("c000 = %+v, %v", cust, err)
	}

	// Nothing new: nothing runs. A second order is not a first order.
	if runs, err := e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 0 {
		t.Fatalf("idle pass: %v %v", runs, err)
	}
	now = now.Add(time.Hour)
	add(domain.Event{ID: "o2", CustomerID: "c000", Type: "order", At: now, AmountFen: 100},
		domain.Event{ID: "s1", CustomerID: "c000", Type: "share", At: now},
		domain.Event{ID: "s2", CustomerID: "c000", Type: "share", At: now})
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'every-share'`); n != 1 {
		t.Fatalf("every-share fires = %d (two shares in one batch fire once)", n)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'first-order'`); n != 1 {
		t.Fatalf("first-order fires = %d", n)
	}
	// Within the cooldown another share is suppressed; after it, it fires.
	now = now.Add(time.Hour)
	add(domain.Event{ID: "s3", CustomerID: "c000", Type: "share", At: now})
	runs, err = e.ProcessTriggers(ctx, opts)
	if err != nil || len(runs) != 1 || runs[0].Rules[1].Suppressed[evaluate.ReasonCooldown] != 1 {
		t.Fatalf("in cooldown: %+v %v", runs, err)
	}
	now = now.Add(25 * time.Hour)
	add(domain.Event{ID: "s4", CustomerID: "c000", Type: "share", At: now})
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'every-share'`); n != 2 {
		t.Fatalf("every-share fires after the cooldown = %d", n)
	}

	// A scheduled run runs the scheduled rule only.
	run := f.run(e, now, false)
	if run.Fired != 3 || run.Rules[0].Matched != 0 || run.Rules[1].Matched != 0 {
		t.Fatalf("scheduled run = %+v", run)
	}
}

// A crash after the fires committed but before the cursor moved re-runs
// the triggers; the fire key keeps them from firing twice.
// A server starts the cursor before it takes requests (StartTriggers):
// events stored before the trigger worker's first pass are answered, not
// taken for the past. (The worker's first pass started the cursor at the
// newest event whenever its goroutine first ran: a loaded machine lost
// the first events a server took, TestServeRunsJourneys in CI.)
func TestEventsBeforeTheWorkersFirstPassAreAnswered(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("thanks", thanks)
	e := f.engine()
	// An event from before the server started is the past.
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "o0", CustomerID: "c001", Type: "order", At: t0.Add(-time.Hour), AmountFen: 100}}); err != nil {
		t.Fatal(err)
	}
	if err := e.StartTriggers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "o1", CustomerID: "c000", Type: "order", At: t0.Add(-time.Minute), AmountFen: 100}}); err != nil {
		t.Fatal(err)
	}
	runs, err := e.ProcessTriggers(ctx, engine.TriggerOptions{Now: func() time.Time { return t0 }})
	if err != nil || len(runs) != 1 || runs[0].Fired != 1 {
		t.Fatalf("the first pass after an event the server took: %+v %v; want c000 thanked", runs, err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE customer_id = 'c001'`); n != 0 {
		t.Errorf("the event from before the start was answered (%d fires)", n)
	}
}

func TestEventTriggersRerunFireOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("thanks", thanks)
	e := f.engine()
	opts := engine.TriggerOptions{Now: func() time.Time { return t0 }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	cursor, _, err := f.db.TriggerCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "o1", CustomerID: "c001", Type: "order", At: t0, AmountFen: 100}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetTriggerCursor(ctx, cursor); err != nil { // as if the cursor never moved
		t.Fatal(err)
	}
	runs, err := e.ProcessTriggers(ctx, opts)
	if err != nil || len(runs) != 1 || runs[0].Fired != 0 || runs[0].Rules[0].Suppressed[evaluate.ReasonOnce] != 1 {
		t.Fatalf("re-run: %+v %v", runs, err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'first-order'`); n != 1 {
		t.Fatalf("fires = %d", n)
	}
}

// The worker reads only the types rules are on: orders among many visits
// are each handled once, in batches smaller than they are, and the cursor
// moves past the visits after the last order too.
func TestEventTriggersSkipOtherTypes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(20, 0)
	f.playbook("thanks", thanks)
	e := f.engine()
	now := t0
	opts := engine.TriggerOptions{Now: func() time.Time { return now }, Batch: 3}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	var evs []domain.Event
	for i := range 20 {
		c := fmt.Sprintf("c%03d", i)
		for k := range 4 {
			evs = append(evs, domain.Event{ID: fmt.Sprintf("v%d-%d", i, k), CustomerID: c, Type: "visit", At: now.Add(-time.Minute)})
		}
		if i%2 == 0 {
			evs = append(evs, domain.Event{ID: fmt.Sprintf("o%d", i), CustomerID: c, Type: "order", At: now.Add(-time.Minute), AmountFen: 100})
		}
	}
	evs = append(evs, domain.Event{ID: "last-visit", CustomerID: "c001", Type: "visit", At: now.Add(-time.Minute)})
	if res, err := e.AddEvents(ctx, evs); err != nil || len(res.ItemErrs) > 0 {
		t.Fatal(err, res.ItemErrs)
	}
	runs, err := e.ProcessTriggers(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	fired := 0
	for _, r := range runs {
		fired += r.Fired
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'first-order'`); n != 10 || fired != 10 || len(runs) != 4 {
		t.Errorf("%d first-order fires, %d in %d runs; want 10 in 4 runs (batches of 3 orders)", n, fired, len(runs))
	}
	if n := f.count(`SELECT count(DISTINCT customer_id) FROM fires WHERE rule = 'first-order' AND CAST(substr(customer_id, 2) AS INTEGER) % 2 = 0`); n != 10 {
		t.Errorf("%d customers with an order thanked, want 10", n)
	}
	cursor, _, err := f.db.TriggerCursor(ctx)
	latest, err2 := f.db.LatestEventSeq(ctx)
	if err != nil || err2 != nil || cursor != latest {
		t.Errorf("cursor %d, latest event %d (%v %v): the visits after the last order were left unread", cursor, latest, err, err2)
	}
	if runs, err := e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 0 {
		t.Errorf("a second pass ran %v, %v", runs, err)
	}
}

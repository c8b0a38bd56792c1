package sqlite_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/rules"
)

const sopJourney = `name: sop
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter:
    when: member && joined_days > 100
  reenter: 10d
  exit_when: orders_since_entry > 0
  steps:
    - id: welcome
      after: 0m
      actions: [{ tag: { add: [sop] } }]
    - id: offer
      after: 24h
      when: count_since_entry("visit") == 0
      actions: [{ coupon: { amount: 5, min_spend: 0, expires_in: 7d } }]
    - id: last
      after: 72h
      actions: [{ tag: { add: [sop-done] } }]
`

// journeyEngine loads body as a journey for an engine over the fixture's
// database, the playbook loaded from body rather than the playbooks
// directory: the tests pass it to ProcessJourney themselves.
func (f *fixture) journeyEngine(body string) (*engine.Engine, *rules.Playbook) {
	f.t.Helper()
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7})
	if err := e.Load(f.dir); err != nil {
		f.t.Fatal(err)
	}
	pb, err := rules.Load("sop.yaml", []byte(body), e.LoadOptions())
	if err != nil {
		f.t.Fatal(err)
	}
	return e, pb
}

// process runs a journey pass, approved in advance (the blast guard has
// its own test), and fails the test on an error.
func process(t *testing.T, e *engine.Engine, pb *rules.Playbook, at time.Time, enter bool) *engine.Run {
	t.Helper()
	r, err := e.ProcessJourney(context.Background(), pb, engine.JourneyRequest{At: at, Enter: enter, ApprovedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != engine.RunDone {
		t.Fatalf("pass %s: %s", r.Status, r.Error)
	}
	return r
}

// stepCounts returns a pass's fired count per step.
func stepCounts(r *engine.Run) map[string]int {
	out := map[string]int{}
	for _, c := range r.Rules {
		out[c.Rule] = c.Fired
	}
	return out
}

// A scheduled journey, pass by pass: members enter and get the first
// step at once; nobody enters twice; a customer who ordered leaves before
// the next step; a step whose when is false is skipped and the journey
// goes on; the last step completes it.
func TestJourneyPasses(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	e, pb := f.journeyEngine(sopJourney)
	ctx := context.Background()

	r := process(t, e, pb, t0, true)
	if got := stepCounts(r); !reflect.DeepEqual(got, map[string]int{"welcome": 4, "offer": 0, "last": 0}) || r.Audience != 4 {
		t.Fatalf("first pass: %v, %d entered", got, r.Audience)
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%"sop"%'`); n != 4 {
		t.Errorf("%d customers tagged by welcome", n)
	}
	r = process(t, e, pb, t0.Add(time.Hour), true)
	if r.Audience != 0 || r.Fired != 0 {
		t.Errorf("second pass the same day: %d entered, %d fired", r.Audience, r.Fired)
	}

	// c001 orders, c002 visits: at the offer, c001 has left and c002's
	// offer is skipped.
	if _, err := e.AddEvents(ctx, []domain.Event{
		{ID: "o1", CustomerID: "c001", Type: "order", At: t0.Add(2 * time.Hour), AmountFen: 100},
		{ID: "v2", CustomerID: "c002", Type: "visit", At: t0.Add(3 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	r = process(t, e, pb, t0.Add(25*time.Hour), false)
	if got := stepCounts(r); got["offer"] != 2 || r.Rules[1].Suppressed[engine.ReasonExited] != 1 || r.Rules[1].Suppressed[engine.ReasonStepWhen] != 1 {
		t.Errorf("offer pass: fired %v, suppressed %v", got, r.Rules[1].Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 2 {
		t.Errorf("%d coupons, want 2 (c000, c003)", n)
	}
	r = process(t, e, pb, t0.Add(80*time.Hour), false)
	if got := stepCounts(r); got["last"] != 3 {
		t.Errorf("last pass: %v (c000, c002, c003 go on)", got)
	}
	sts, err := f.db.JourneyStates(ctx, "sop", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"c000": domain.JourneyCompleted, "c001": domain.JourneyExited, "c002": domain.JourneyCompleted, "c003": domain.JourneyCompleted}
	for id, status := range want {
		if sts[id].Status != status || sts[id].Entry != 1 {
			t.Errorf("%s: %s, entry %d; want %s, entry 1", id, sts[id].Status, sts[id].Entry, status)
		}
	}
	// reenter: 10d after their journey ended, a customer may enter again:
	// c001, who left at 25 h, first; the others, who completed at 80 h,
	// a day later, when c001's second offer comes due (their order was
	// before this entry).
	r = process(t, e, pb, t0.Add(80*time.Hour+9*day), true)
	if r.Audience != 1 || stepCounts(r)["welcome"] != 1 {
		t.Errorf("9 days after the end: %d entered, %v; want c001 alone", r.Audience, stepCounts(r))
	}
	r = process(t, e, pb, t0.Add(80*time.Hour+10*day), true)
	if got := stepCounts(r); r.Audience != 3 || !reflect.DeepEqual(got, map[string]int{"welcome": 3, "offer": 1, "last": 0}) {
		t.Errorf("10 days after the end: %d entered, %v", r.Audience, got)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE playbook = 'sop' AND rule = 'welcome' AND seq = 2`); n != 4 {
		t.Errorf("%d welcome fires of the second entry", n)
	}
}

// Steps that came due while nothing processed the journey fire late, in
// order, each once, in one pass.
func TestLateJourneyStepsFireInOrderOnce(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	e, pb := f.journeyEngine(sopJourney)
	process(t, e, pb, t0, true)
	r := process(t, e, pb, t0.Add(30*day), false)
	if got := stepCounts(r); !reflect.DeepEqual(got, map[string]int{"welcome": 0, "offer": 2, "last": 2}) {
		t.Errorf("late pass: %v", got)
	}
	if r.Rules[1].Late != 2 || r.Rules[2].Late != 2 {
		t.Errorf("late steps counted %d and %d, want 2 and 2", r.Rules[1].Late, r.Rules[2].Late)
	}
	// A step taken a minute after its time, as koi serve takes them, is
	// on time.
	g := newFixture(t)
	g.customers(2, 0)
	e2, pb2 := g.journeyEngine(sopJourney)
	process(t, e2, pb2, t0, true)
	if r := process(t, e2, pb2, t0.Add(24*time.Hour+time.Minute), false); r.Rules[1].Fired != 2 || r.Rules[1].Late != 0 {
		t.Errorf("offer a minute after its time: fired %d, late %d", r.Rules[1].Fired, r.Rules[1].Late)
	}
	for _, id := range []string{"c000", "c001"} {
		rows, err := f.db.SQL().Query(`SELECT rule FROM fires WHERE customer_id = ? ORDER BY id`, id)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			order = append(order, r)
		}
		rows.Close()
		if !reflect.DeepEqual(order, []string{"welcome", "offer", "last"}) {
			t.Errorf("%s's steps fired %v", id, order)
		}
	}
	if r := process(t, e, pb, t0.Add(31*day), false); r.Fired != 0 {
		t.Errorf("a pass after the end fired %d", r.Fired)
	}
}

// A customer held out at entry is recorded at each step and acted on at
// none.
func TestJourneyHoldout(t *testing.T) {
	f := newFixture(t)
	f.customers(40, 0)
	e, pb := f.journeyEngine(strings.Replace(sopJourney, "holdout: 0%", "holdout: 50%", 1))
	r := process(t, e, pb, t0, true)
	held := r.Rules[0].Suppressed["holdout"]
	if held == 0 || held == 40 || r.Rules[0].Fired+held != 40 {
		t.Fatalf("welcome: %d fired, %d held out of 40", r.Rules[0].Fired, held)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE status = 'holdout' AND rule = 'welcome'`); n != held {
		t.Errorf("%d holdout fires recorded, want %d", n, held)
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%"sop"%'`); n != r.Rules[0].Fired {
		t.Errorf("%d tagged, want %d", n, r.Rules[0].Fired)
	}
}

// Two processes passing over the same journey at once: every step fires
// once per customer and entry, whichever process took it.
func TestRacingJourneyPassesFireEachStepOnce(t *testing.T) {
	f := newFixture(t)
	f.customers(60, 0)
	e1, pb := f.journeyEngine(sopJourney)
	e2 := engine.New(f.otherWriter(), f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}})
	process(t, e1, pb, t0, true)
	var wg sync.WaitGroup
	for _, e := range []*engine.Engine{e1, e2} {
		wg.Go(func() {
			if _, err := e.ProcessJourney(context.Background(), pb, engine.JourneyRequest{At: t0.Add(30 * day), ApprovedBy: "test"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, step := range []string{"welcome", "offer", "last"} {
		if n := f.count(`SELECT count(*) FROM fires WHERE playbook = 'sop' AND rule = ?`, step); n != 60 {
			t.Errorf("%s fired %d times for 60 customers", step, n)
		}
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 60 {
		t.Errorf("%d coupons for 60 offers", n)
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE status = 'completed'`); n != 60 {
		t.Errorf("%d journeys completed of 60", n)
	}
}

// A step's messages obey the contact policy as a rule's do: a customer
// who opted out of the channel gets nothing (consent), a message over
// the cap is dropped (cap) and the journey goes on, and one in quiet
// hours waits for the morning.
func TestJourneyStepsObeyThePolicy(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	e := f.policyEngine(`cap: { messages: 1, per: 2d }
quiet_hours: { from: "21:30", to: "09:00" }`)
	pb, err := rules.Load("sop.yaml", []byte(`name: sop
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter: { when: member }
  steps:
    - id: hello
      after: 0m
      actions: [{ message: { channel: log, template: "你好" } }]
    - id: again
      after: 1d
      actions: [{ message: { channel: log, template: "再见" } }]
    - id: later
      after: 3d
      actions: [{ message: { channel: log, template: "好久不见" } }]
`), e.LoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.SetOptOut(ctx, "c002", "log", true); err != nil {
		t.Fatal(err)
	}
	// 23:00 in Shanghai: quiet hours.
	at := time.Date(2026, 3, 1, 23, 0, 0, 0, shanghai)
	r := process(t, e, pb, at, true)
	if c := r.Rules[0]; c.Fired != 2 || c.Suppressed["consent"] != 1 || c.Deferred["quiet_hours"] != 2 {
		t.Errorf("hello: fired %d, suppressed %v, deferred %v", c.Fired, c.Suppressed, c.Deferred)
	}
	if due := f.jobsDue("hello", "c000"); len(due) != 1 || !due[0].Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)) {
		t.Errorf("c000's hello due %v, want 09:00 the next morning", due)
	}
	// A day later the cap (1 in 2 days) drops again; the journey goes on
	// to later, which the cap allows.
	r = process(t, e, pb, at.Add(36*time.Hour), false)
	if c := r.Rules[1]; c.Fired != 0 || c.Suppressed["cap"] != 2 {
		t.Errorf("again: fired %d, suppressed %v; want both capped", c.Fired, c.Suppressed)
	}
	r = process(t, e, pb, at.Add(4*day), false)
	if c := r.Rules[2]; c.Fired != 2 {
		t.Errorf("later: fired %d, suppressed %v", c.Fired, c.Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE status = 'completed'`); n != 3 {
		t.Errorf("%d journeys completed of 3", n)
	}
}

// A journey entered on an event: the customer enters at the event's time
// when enter.when holds, the first step fires at once, an order leaves
// the journey on the event itself, and reenter: never keeps them out.
func TestJourneyEnteredOnAnEvent(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 1) // c000 has ordered
	e, pb := f.journeyEngine(`name: sop
holdout: 0%
journey:
  enter: { on: wecom_add, when: orders == 0 }
  exit_when: orders_since_entry > 0
  steps:
    - id: welcome
      after: 0m
      actions: [{ tag: { add: [sop] } }]
    - id: offer
      after: 48h
      actions: [{ tag: { add: [offer] } }]
`)
	ctx := context.Background()
	add := func(evs ...domain.Event) []domain.Event {
		t.Helper()
		if _, err := e.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	evs := add(domain.Event{ID: "a0", CustomerID: "c000", Type: "wecom_add", At: t0},
		domain.Event{ID: "a1", CustomerID: "c001", Type: "wecom_add", At: t0},
		domain.Event{ID: "a1b", CustomerID: "c001", Type: "wecom_add", At: t0.Add(time.Minute)},
		domain.Event{ID: "v2", CustomerID: "c002", Type: "visit", At: t0})
	r, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0.Add(2 * time.Minute), Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	if r.Audience != 1 || stepCounts(r)["welcome"] != 1 {
		t.Fatalf("entered %d, fired %v; want c001 alone (c000 ordered before, c002 only visited)", r.Audience, stepCounts(r))
	}
	sts, _ := f.db.CustomerJourneys(ctx, "c001")
	if len(sts) != 1 || !sts[0].EnteredAt.Equal(t0) || sts[0].NextStep != "offer" || !sts[0].DueAt.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("c001's journey: %+v; want entered at the first event, offer due 48 h after", sts)
	}
	evs = add(domain.Event{ID: "o1", CustomerID: "c001", Type: "order", At: t0.Add(time.Hour), AmountFen: 100})
	r, err = e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0.Add(time.Hour), Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	if sts, _ := f.db.CustomerJourneys(ctx, "c001"); sts[0].Status != domain.JourneyExited || !sts[0].EndedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after the order: %+v; want exited at the order", sts[0])
	}
	if r.Rules[1].Suppressed[engine.ReasonExited] != 1 {
		t.Errorf("the exit is not counted at the step it left before: %v", r.Rules[1].Suppressed)
	}
	evs = add(domain.Event{ID: "a1c", CustomerID: "c001", Type: "wecom_add", At: t0.Add(2 * time.Hour)})
	if r, err = e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0.Add(2 * time.Hour), Events: evs}); err != nil || r.Audience != 0 {
		t.Errorf("reenter: never let c001 enter again: %d, %v", r.Audience, err)
	}
	if r := process(t, e, pb, t0.Add(100*time.Hour), false); r.Fired != 0 {
		t.Errorf("the exited customer's offer fired (%d)", r.Fired)
	}
}

// A journey edited while customers wait at a step it no longer has: they
// go on from the first step due at or after the removed one's time,
// firing nothing for it.
func TestJourneyResumesAfterAnEditRemovedItsStep(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	e, v1 := f.journeyEngine(`name: sop
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter: { when: member }
  steps:
    - id: a
      after: 0m
      actions: [{ tag: { add: [a] } }]
    - id: b
      after: 1h
      actions: [{ tag: { add: [b] } }]
    - id: c
      after: 2h
      actions: [{ tag: { add: [c] } }]
`)
	process(t, e, v1, t0, true)
	v2, err := rules.Load("sop.yaml", []byte(strings.Replace(v1.Source, `    - id: b
      after: 1h
      actions: [{ tag: { add: [b] } }]
`, "", 1)), e.LoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Journey.Steps) != 2 {
		t.Fatalf("the edit left %d steps", len(v2.Journey.Steps))
	}
	if r := process(t, e, v2, t0.Add(90*time.Minute), false); r.Fired != 0 {
		t.Errorf("the pass after the edit fired %d", r.Fired)
	}
	sts, err := f.db.JourneyStates(context.Background(), "sop", nil)
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range sts {
		if st.NextStep != "c" || !st.DueAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("%s waits at %s, due %v; want c at 2 h", id, st.NextStep, st.DueAt)
		}
	}
	if r := process(t, e, v2, t0.Add(2*time.Hour), false); stepCounts(r)["c"] != 3 {
		t.Errorf("c fired %v", stepCounts(r))
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'b'`); n != 0 {
		t.Errorf("%d fires of the removed step", n)
	}
}

// A preview says what a pass would do and writes nothing: who would enter
// on the schedule, and what each due step would do, decided as a pass
// decides it.
func TestPreviewJourney(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	e, pb := f.journeyEngine(sopJourney)
	ctx := context.Background()
	pv, err := e.PreviewJourney(ctx, pb, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Those entering would take the first step (after: 0m) in the pass.
	if pv.Entering != 4 || len(pv.EnteringSample) != 4 || pv.Steps[0].Fired != 4 || pv.WouldFire != 4 {
		t.Errorf("before anyone entered: %+v", pv)
	}
	if n := f.count(`SELECT count(*) FROM journey_state`) + f.count(`SELECT count(*) FROM fires`) + f.count(`SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("the preview wrote %d rows", n)
	}
	if r := process(t, e, pb, t0, true); r.Fired != pv.WouldFire {
		t.Errorf("the pass fired %d, the preview said %d", r.Fired, pv.WouldFire)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{
		{ID: "o1", CustomerID: "c001", Type: "order", At: t0.Add(2 * time.Hour), AmountFen: 100},
		{ID: "v2", CustomerID: "c002", Type: "visit", At: t0.Add(3 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	fires := f.count(`SELECT count(*) FROM fires`)
	pv, err = e.PreviewJourney(ctx, pb, t0.Add(25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	offer := pv.Steps[1]
	if pv.Entering != 0 || offer.Fired != 2 || offer.Suppressed[engine.ReasonExited] != 1 || offer.Suppressed[engine.ReasonStepWhen] != 1 {
		t.Errorf("a day later: entering %d, offer fired %d, suppressed %v", pv.Entering, offer.Fired, offer.Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != fires {
		t.Errorf("the preview wrote %d fires", n-fires)
	}
	// The pass then does what the preview said.
	if r := process(t, e, pb, t0.Add(25*time.Hour), false); r.Rules[1].Fired != offer.Fired {
		t.Errorf("the pass fired %d, the preview said %d", r.Rules[1].Fired, offer.Fired)
	}
}

// A journey's report compares, step by step, the treated with those held
// out at entry, over the attribution window after the step.
func TestJourneyReport(t *testing.T) {
	f := newFixture(t)
	f.customers(200, 0)
	e, pb := f.journeyEngine(strings.Replace(sopJourney, "holdout: 0%", "holdout: 50%\nattribution: 7d", 1))
	process(t, e, pb, t0, true)
	// Half the treated order within the week after welcome; one held-out
	// customer does.
	sts, err := f.db.JourneyStates(context.Background(), "sop", nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []domain.Event
	treated, heldOrdered := 0, false
	for id, st := range sts {
		switch {
		case !st.Holdout && treated%2 == 0:
			evs = append(evs, domain.Event{ID: "o-" + id, CustomerID: id, Type: "order", At: t0.Add(2 * day), AmountFen: 10000})
			treated++
		case !st.Holdout:
			treated++
		case !heldOrdered:
			evs = append(evs, domain.Event{ID: "o-" + id, CustomerID: id, Type: "order", At: t0.Add(2 * day), AmountFen: 10000})
			heldOrdered = true
		}
	}
	if _, err := e.AddEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	reps, err := e.JourneyReport(context.Background(), pb, t0.Add(10*day))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 4 || reps[0].Rule != "welcome" || reps[3].Rule != engine.JourneyWhole {
		t.Fatalf("%d reports: %+v", len(reps), reps)
	}
	// The journey as a whole: entries, treated against held out, with
	// their orders in the week after entry.
	if j := reps[3]; j.Holdout == nil || j.Treated.Customers != treated || j.Treated.Converted != (treated+1)/2 ||
		j.Holdout.Converted != 1 || j.Treated.Customers+j.Holdout.Customers != 200 {
		t.Errorf("the journey: treated %+v, held out %+v", j.Treated, j.Holdout)
	}
	w := reps[0]
	if w.Holdout == nil || w.Treated.Customers != treated || w.Treated.Converted != (treated+1)/2 || w.Holdout.Converted != 1 ||
		w.Treated.Customers+w.Holdout.Customers != 200 || w.Uplift == nil {
		t.Errorf("welcome: treated %+v, held out %+v, uplift %+v", w.Treated, w.Holdout, w.Uplift)
	}
}

// A step with variants is an A/B test as a rule's is: each customer gets
// one variant's actions, for good, and its fire names the variant.
func TestJourneyStepVariants(t *testing.T) {
	f := newFixture(t)
	f.customers(60, 0)
	e, pb := f.journeyEngine(`name: sop
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter: { when: member }
  steps:
    - id: hello
      after: 0m
      actions: [{ tag: { add: [hello] } }]
      variants:
        - { id: warm, weight: 1, actions: [{ tag: { add: [warm] } }] }
        - { id: cool, weight: 1, actions: [{ tag: { add: [cool] } }] }
`)
	if r := process(t, e, pb, t0, true); r.Rules[0].Fired != 60 {
		t.Fatalf("hello fired %d of 60", r.Rules[0].Fired)
	}
	warm := f.count(`SELECT count(*) FROM fires WHERE rule = 'hello' AND variant = 'warm'`)
	cool := f.count(`SELECT count(*) FROM fires WHERE rule = 'hello' AND variant = 'cool'`)
	if warm+cool != 60 || warm == 0 || cool == 0 {
		t.Errorf("variants: warm %d, cool %d of 60", warm, cool)
	}
	if n := f.count(`SELECT count(*) FROM customers_now c JOIN fires f ON f.customer_id = c.id AND f.rule = 'hello'
		WHERE c.tags LIKE '%"hello"%' AND c.tags LIKE '%"' || f.variant || '"%'`); n != 60 {
		t.Errorf("%d customers have the tags of their own variant, want 60", n)
	}
}

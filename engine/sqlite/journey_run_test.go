package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/sqlite"
)

// A journey file loads with the other playbooks and runs through Run:
// a dry run previews the entries and writes nothing; a real run enters
// and takes the steps due; a later run takes the next.
func TestJourneysRunThroughRun(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("recall", recall)
	f.playbook("sop", sopJourney)
	e := f.engine()
	ctx := context.Background()
	if _, ok := e.Playbook("sop"); !ok {
		t.Fatal("the journey did not load")
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: t0, DryRun: true, Playbooks: []string{"sop"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Audience != 3 || !runs[0].DryRun || runs[0].ID != 0 {
		t.Fatalf("dry run: %+v", runs)
	}
	if n := f.count(`SELECT count(*) FROM journey_state`) + f.count(`SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("a dry run wrote %d rows", n)
	}
	runs, err = e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	var sop *engine.Run
	for _, r := range runs {
		if r.Playbook == "sop" {
			sop = r
		}
	}
	if len(runs) != 2 || sop == nil || sop.Audience != 3 || stepCounts(sop)["welcome"] != 3 || sop.ID == 0 {
		t.Fatalf("run of every playbook: %d runs, sop %+v", len(runs), sop)
	}
	runs, err = e.Run(ctx, engine.RunRequest{At: t0.Add(25 * time.Hour), Playbooks: []string{"sop"}})
	if err != nil || len(runs) != 1 || stepCounts(runs[0])["offer"] != 3 || runs[0].Audience != 0 {
		t.Fatalf("next day: %+v %v", runs, err)
	}
	// Reports of every playbook include the journey's, step by step and
	// as a whole.
	reps, err := e.Report(ctx, "", t0.Add(30*day))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range reps {
		lines = append(lines, r.Playbook+"/"+r.Rule)
	}
	if !slices.Contains(lines, "sop/welcome") || !slices.Contains(lines, "sop/"+engine.JourneyWhole) || !slices.Contains(lines, "recall/recall") {
		t.Errorf("report lines: %v", lines)
	}
}

// koi serve's passes: ProcessJourneys records a run only when a pass did
// something.
func TestQuietJourneyPasses(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("sop", sopJourney)
	e := f.engine()
	ctx := context.Background()
	if runs := e.ProcessJourneys(ctx, t0); len(runs) != 0 {
		t.Fatalf("nobody in the journey, yet %d runs", len(runs))
	}
	if n := f.count(`SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("%d runs recorded by passes that did nothing", n)
	}
	if _, err := e.Run(ctx, engine.RunRequest{At: t0}); err != nil {
		t.Fatal(err)
	}
	runs := e.ProcessJourneys(ctx, t0.Add(24*time.Hour))
	if len(runs) != 1 || stepCounts(runs[0])["offer"] != 2 || runs[0].Trigger != engine.TriggerSchedule {
		t.Fatalf("the day after: %+v", runs)
	}
	if runs := e.ProcessJourneys(ctx, t0.Add(24*time.Hour+time.Minute)); len(runs) != 0 {
		t.Fatalf("a minute later: %d runs", len(runs))
	}
}

// The trigger worker answers journeys: an event of the type a journey is
// entered on enters its customer and takes the first step at once; an
// order (which exit_when reads) leaves the journey on its arrival; other
// types are not read for it.
func TestJourneysAnswerEventsThroughTriggers(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("sop", `name: sop
holdout: 0%
journey:
  enter: { on: wecom_add }
  exit_when: orders_since_entry > 0
  steps:
    - id: welcome
      after: 0m
      actions: [{ tag: { add: [sop] } }]
    - id: offer
      after: 48h
      actions: [{ tag: { add: [offer] } }]
`)
	e := f.engine()
	ctx := context.Background()
	now := t0
	opts := engine.TriggerOptions{Now: func() time.Time { return now }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil { // starts the cursor
		t.Fatal(err)
	}
	add := func(evs ...domain.Event) {
		t.Helper()
		if res, err := e.AddEvents(ctx, evs); err != nil || len(res.ItemErrs) > 0 {
			t.Fatal(err, res.ItemErrs)
		}
	}
	add(domain.Event{ID: "a0", CustomerID: "c000", Type: "wecom_add", At: now},
		domain.Event{ID: "v1", CustomerID: "c001", Type: "visit", At: now})
	runs, err := e.ProcessTriggers(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Audience != 1 || stepCounts(runs[0])["welcome"] != 1 || runs[0].Trigger != engine.TriggerEvent {
		t.Fatalf("runs on wecom_add: %+v", runs)
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%"sop"%'`); n != 1 {
		t.Fatalf("%d customers welcomed", n)
	}
	now = now.Add(time.Hour)
	add(domain.Event{ID: "o0", CustomerID: "c000", Type: "order", At: now, AmountFen: 100})
	if runs, err = e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 1 {
		t.Fatalf("runs on the order: %+v, %v", runs, err)
	}
	sts, _ := f.db.CustomerJourneys(ctx, "c000")
	if len(sts) != 1 || sts[0].Status != domain.JourneyExited || !sts[0].EndedAt.Equal(now) {
		t.Fatalf("after the order: %+v; want exited at its arrival", sts)
	}
	now = now.Add(time.Hour)
	add(domain.Event{ID: "v0", CustomerID: "c000", Type: "visit", At: now})
	if runs, err = e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 0 {
		t.Fatalf("a visit, which the journey does not read: %+v, %v", runs, err)
	}
}

// The blast guard holds a journey pass whose due steps would fire more
// than limits.max_fires: nothing of them is written, the steps stay due,
// and later passes take none until it is decided. Approving takes the
// held steps; rejecting passes them, and the journey goes on.
func TestJourneyBlastGuard(t *testing.T) {
	body := sopWithLimit(2)
	for _, decide := range []string{"approve", "reject"} {
		t.Run(decide, func(t *testing.T) {
			f := newFixture(t)
			f.customers(4, 0)
			f.playbook("sop", body)
			e := f.engine()
			ctx := context.Background()
			runs, err := e.Run(ctx, engine.RunRequest{At: t0})
			if err != nil {
				t.Fatal(err)
			}
			held := runs[0]
			if held.Status != engine.RunHeld || held.Audience != 4 || held.Rules[0].Suppressed["blast_guard"] != 4 || held.Limit != 2 {
				t.Fatalf("pass: %s (%s), entered %d, %v", held.Status, held.Error, held.Audience, held.Rules[0].Suppressed)
			}
			if n := f.count(`SELECT count(*) FROM fires`); n != 0 {
				t.Fatalf("a held pass wrote %d fires", n)
			}
			if n := f.count(`SELECT count(*) FROM journey_state WHERE next_step = 'welcome'`); n != 4 {
				t.Fatalf("%d customers still at welcome, want 4", n)
			}
			if runs := e.ProcessJourneys(ctx, t0.Add(time.Minute)); len(runs) != 0 {
				t.Fatalf("a pass took steps while one is held: %+v", runs)
			}
			got, err := e.GetRun(ctx, held.ID)
			if err != nil || len(got.Sample) != 4 || got.Sample[0].Rule != "welcome" {
				t.Fatalf("held run's sample: %+v, %v", got, err)
			}
			at := t0.Add(2 * time.Minute)
			if decide == "approve" {
				r, err := e.Approve(ctx, held.ID, "ops", at)
				if err != nil || r.Status != engine.RunDone || stepCounts(r)["welcome"] != 4 {
					t.Fatalf("approve: %+v, %v", r, err)
				}
				if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'welcome' AND run_id = ?`, held.ID); n != 4 {
					t.Fatalf("%d welcome fires in the approved run", n)
				}
			} else {
				r, err := e.Reject(ctx, held.ID, "ops", at)
				if err != nil || r.Status != engine.RunRejected {
					t.Fatalf("reject: %+v, %v", r, err)
				}
				if n := f.count(`SELECT count(*) FROM fires`); n != 0 {
					t.Fatalf("a rejected pass fired %d", n)
				}
			}
			if n := f.count(`SELECT count(*) FROM journey_state WHERE next_step = 'offer' AND status = 'entered'`); n != 4 {
				t.Fatalf("after %s: %d customers at the offer, want 4", decide, n)
			}
			// The journey goes on: the next steps are guarded again (4
			// fires over 2 of max_fires), so approved in advance here.
			runs, err = e.Run(ctx, engine.RunRequest{At: t0.Add(25 * time.Hour), ApprovedBy: "test"})
			if err != nil || stepCounts(runs[0])["offer"] != 4 {
				t.Fatalf("the day after: %+v, %v", runs, err)
			}
		})
	}
}

// Explain on a journey says where the customer is and what a pass would
// do with the step: not entered (and whether they may), due and firing,
// waiting behind an earlier step, past it, skipped by its when, leaving
// by exit_when.
func TestExplainJourneyStep(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("sop", sopJourney)
	e := f.engine()
	ctx := context.Background()
	explain := func(customer, step string, at time.Time) *evaluate.Explanation {
		t.Helper()
		x, err := e.Explain(ctx, engine.ExplainRequest{Playbook: "sop", Rule: step, CustomerID: customer, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x := explain("c000", "", t0)
	if x.Verdict != evaluate.VerdictNotEntered || x.Rule != "welcome" || !x.Journey.MayEnter || x.Journey.Enter == nil || x.Journey.Enter.Value != true {
		t.Fatalf("before entering: %+v %+v", x, x.Journey)
	}
	if _, err := e.Run(ctx, engine.RunRequest{At: t0, ApprovedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	if x := explain("c000", "welcome", t0.Add(time.Hour)); x.Verdict != evaluate.VerdictPassed || x.State.Fires != 1 || !x.State.LastFire.Equal(t0) {
		t.Errorf("welcome after it fired: %s, %d fires, last %v", x.Verdict, x.State.Fires, x.State.LastFire)
	}
	if x := explain("c000", "last", t0.Add(time.Hour)); x.Verdict != evaluate.VerdictWaiting || !x.Journey.DueAt.Equal(t0.Add(72*time.Hour)) {
		t.Errorf("last, an hour in: %s due %v", x.Verdict, x.Journey.DueAt)
	}
	// Days late, a pass would take offer and then last: last fires.
	if x := explain("c000", "last", t0.Add(80*time.Hour)); x.Verdict != evaluate.VerdictFires {
		t.Errorf("last, 80 hours in with offer not taken yet: %s, want fires (after offer, in the same pass)", x.Verdict)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{
		{ID: "v1", CustomerID: "c001", Type: "visit", At: t0.Add(2 * time.Hour)},
		{ID: "o2", CustomerID: "c002", Type: "order", At: t0.Add(2 * time.Hour), AmountFen: 100},
	}); err != nil {
		t.Fatal(err)
	}
	day := t0.Add(25 * time.Hour)
	if x := explain("c000", "", day); x.Rule != "offer" || x.Verdict != evaluate.VerdictFires || x.Journey.State.NextStep != "offer" {
		t.Errorf("c000's next step a day in: %s %s", x.Rule, x.Verdict)
	}
	if x := explain("c001", "", day); x.Verdict != evaluate.VerdictNotMatched || x.When.Value != false {
		t.Errorf("c001 visited: offer is %s, when %v", x.Verdict, x.When.Value)
	}
	x = explain("c002", "", day)
	if x.Verdict != evaluate.VerdictSuppressed || x.Reason != engine.ReasonExited || x.Journey.Exit == nil || x.Journey.Exit.Value != true {
		t.Errorf("c002 ordered: %s %s, exit %+v", x.Verdict, x.Reason, x.Journey.Exit)
	}
	// What explain said is what the pass does.
	runs, err := e.Run(ctx, engine.RunRequest{At: day, ApprovedBy: "test"})
	if err != nil || stepCounts(runs[0])["offer"] != 1 || runs[0].Rules[1].Suppressed[engine.ReasonStepWhen] != 1 || runs[0].Rules[1].Suppressed[engine.ReasonExited] != 1 {
		t.Fatalf("the pass: %+v %v", runs, err)
	}
	if x := explain("c002", "", day); x.Verdict != evaluate.VerdictNotEntered || x.Journey.MayEnter || x.Journey.State.Status != domain.JourneyExited {
		t.Errorf("c002 after leaving: %s, may enter %v (reenter: 10d)", x.Verdict, x.Journey.MayEnter)
	}
	if _, err := e.Explain(ctx, engine.ExplainRequest{Playbook: "sop", Rule: "nope", CustomerID: "c000", At: day}); err == nil || !strings.Contains(err.Error(), `no step "nope"`) {
		t.Errorf("an unknown step: %v", err)
	}
}

// A customer behind by several steps takes them all in one pass, so the
// blast guard counts them all: four customers two steps behind are eight
// fires, over a max_fires of 4, though only four customers are due.
// Approving takes both steps of each.
func TestJourneyGuardCountsLateSteps(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	f.playbook("sop", sopWithLimit(4))
	e := f.engine()
	ctx := context.Background()
	if runs, err := e.Run(ctx, engine.RunRequest{At: t0}); err != nil || runs[0].Status != engine.RunDone || runs[0].Fired != 4 {
		t.Fatalf("entry: %+v, %v", runs, err)
	}
	pv, err := e.Preview(ctx, engine.PreviewRequest{Playbook: "sop", At: t0.Add(96 * time.Hour)})
	if err != nil || pv.WouldFire != 8 || !pv.Held {
		t.Fatalf("preview of the late pass: would fire %d, held %v, %v", pv.WouldFire, pv.Held, err)
	}
	runs := e.ProcessJourneys(ctx, t0.Add(96*time.Hour))
	if len(runs) != 1 || runs[0].Status != engine.RunHeld || runs[0].Rules[1].Suppressed["blast_guard"] != 4 || runs[0].Rules[2].Suppressed["blast_guard"] != 4 {
		t.Fatalf("the late pass: %+v", runs)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != 4 {
		t.Fatalf("%d fires after the held pass, want the 4 welcomes", n)
	}
	r, err := e.Approve(ctx, runs[0].ID, "ops", t0.Add(97*time.Hour))
	if err != nil || r.Fired != 8 {
		t.Fatalf("approve: %+v, %v", r, err)
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE status = 'completed'`); n != 4 {
		t.Errorf("%d journeys completed, want 4", n)
	}
}

// While another process approves a held pass (the run running, its held
// fires still there), passes here take no step and hold nothing again: the
// approving process is taking the steps.
func TestJourneyWaitsWhileAnotherProcessApproves(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	f.playbook("sop", sopWithLimit(2))
	e := f.engine()
	ctx := context.Background()
	runs, err := e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil || runs[0].Status != engine.RunHeld {
		t.Fatalf("entry: %+v, %v", runs, err)
	}
	// The other process's approval, as far as it got.
	if err := f.db.DecideRun(ctx, runs[0].ID, []string{engine.RunHeld}, engine.RunRunning, "ops", t0); err != nil {
		t.Fatal(err)
	}
	if got := e.ProcessJourneys(ctx, t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("a pass during the approval: %+v", got)
	}
	if n := f.count(`SELECT count(*) FROM fires`) + f.count(`SELECT count(*) FROM runs WHERE status = 'held'`); n != 0 {
		t.Fatalf("%d fires or new holds during another process's approval", n)
	}
	pv, err := e.Preview(ctx, engine.PreviewRequest{Playbook: "sop", At: t0.Add(time.Minute)})
	if err != nil || !pv.Journey.Waiting {
		t.Errorf("the preview does not say the journey waits: %+v, %v", pv.Journey, err)
	}
	// A pass that enters a new customer meanwhile records a run: the
	// approval under way is not taken for a dead run of this playbook.
	if err := e.PutCustomers(ctx, []domain.Customer{{ID: "c004", Tier: "normal", Member: true, JoinedAt: t0.Add(-400 * day)}}, t0); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Run(ctx, engine.RunRequest{At: t0.Add(2 * time.Minute)}); err != nil || got[0].Audience != 1 || got[0].Fired != 0 {
		t.Fatalf("a pass entering c004 during the approval: %+v, %v", got, err)
	}
	if r, _ := e.GetRun(ctx, runs[0].ID); r.Status != engine.RunRunning {
		t.Fatalf("the approval under way was marked %s", r.Status)
	}
	// The approving process died: past the lease the journey goes on, and
	// the housekeeping ends the approval.
	late := t0.Add(engine.ApprovalLease + 3*time.Minute)
	if err := e.Sweep(ctx, late); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.GetRun(ctx, runs[0].ID); r.Status != engine.RunInterrupted {
		t.Fatalf("the stale approval is %s, want interrupted", r.Status)
	}
	if got := e.ProcessJourneys(ctx, late); len(got) != 1 || got[0].Status != engine.RunHeld {
		t.Fatalf("the pass after the lease: %+v; want the 5 welcomes held again (max_fires 2)", got)
	}
}

// A step whose action fails is counted as an error, leaves nothing of
// itself behind, and the customer's journey goes on to the next step.
func TestAFailingStepIsCountedAndPassed(t *testing.T) {
	f := newFixture(t)
	f.reg.Add("failing", func() actions.Action { return &failing{} })
	f.customers(3, 0)
	f.playbook("sop", strings.Replace(sopJourney, "      actions: [{ tag: { add: [sop] } }]", "      actions: [{ coupon: { amount: 5, expires_in: 3d } }, { failing: { customer: c001 } }]", 1))
	e := f.engine()
	ctx := context.Background()
	runs, err := e.Run(ctx, engine.RunRequest{At: t0, ApprovedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if c := runs[0].Rules[0]; c.Fired != 2 || c.Errors != 1 || !strings.Contains(c.FirstError, "downstream said no") {
		t.Fatalf("welcome: fired %d, errors %d (%s)", c.Fired, c.Errors, c.FirstError)
	}
	if n := f.count(`SELECT count(*) FROM coupons WHERE customer_id = 'c001'`) + f.count(`SELECT count(*) FROM fires WHERE customer_id = 'c001'`); n != 0 {
		t.Errorf("the failed step left %d rows behind", n)
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE customer_id = 'c001' AND next_step = 'offer'`); n != 1 {
		t.Error("the customer whose step failed did not go on to the next step")
	}
}

// Like the rules on events, a journey is not entered by events older
// than the trigger worker's MaxAge when it takes them: a backfill of old
// wecom_add events starts no SOP.
func TestOldEventsEnterNoJourney(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("sop", `name: sop
holdout: 0%
journey:
  enter: { on: wecom_add }
  steps:
    - id: welcome
      after: 0m
      actions: [{ tag: { add: [sop] } }]
`)
	e := f.engine()
	ctx := context.Background()
	opts := engine.TriggerOptions{Now: func() time.Time { return t0 }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{
		{ID: "old", CustomerID: "c000", Type: "wecom_add", At: t0.Add(-25 * time.Hour)},
		{ID: "new", CustomerID: "c001", Type: "wecom_add", At: t0.Add(-time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if got := f.count(`SELECT count(*) FROM journey_state WHERE customer_id = 'c000'`); got != 0 {
		t.Error("an event 25 hours old entered its customer")
	}
	if got := f.count(`SELECT count(*) FROM journey_state WHERE customer_id = 'c001'`); got != 1 {
		t.Error("an event an hour old did not enter its customer")
	}
}

// A rejection passes the held steps before it marks the run rejected:
// cut short, it leaves the run held (passes still take no step), and
// rejecting again finishes it; nothing of the held steps ever fires.
func TestARejectionCutShortIsFinishedByRejectingAgain(t *testing.T) {
	f := newFixture(t)
	f.customers(30, 0)
	f.playbook("sop", sopWithLimit(10))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := 0
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7, AfterBatch: func(string, int) {
		if batches++; batches == 2 {
			cancel() // the rejection stops after its second batch
		}
	}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil || runs[0].Status != engine.RunHeld {
		t.Fatalf("entry: %+v, %v", runs, err)
	}
	batches = 0
	if _, err := e.Reject(ctx, runs[0].ID, "ops", t0.Add(time.Minute)); err == nil {
		t.Fatal("the rejection cut short reported no error")
	}
	passed := f.count(`SELECT count(*) FROM journey_state WHERE next_step = 'offer'`)
	if r, _ := e.GetRun(context.Background(), runs[0].ID); r.Status != engine.RunHeld || passed == 0 || passed == 30 {
		t.Fatalf("after the cut: run %s, %d of 30 passed; want held, some passed", r.Status, passed)
	}
	if got := e.ProcessJourneys(context.Background(), t0.Add(2*time.Minute)); len(got) != 0 {
		t.Fatalf("a pass took steps of the half-rejected run: %+v", got)
	}
	r, err := e.Reject(context.Background(), runs[0].ID, "ops", t0.Add(3*time.Minute))
	if err != nil || r.Status != engine.RunRejected {
		t.Fatalf("rejecting again: %+v, %v", r, err)
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE next_step = 'offer'`); n != 30 {
		t.Errorf("%d of 30 passed the held step", n)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != 0 {
		t.Errorf("%d held steps fired", n)
	}
}

// A held pass nobody decides expires; the next pass then looks at the
// steps afresh (here: still too many, held again).
func TestAnExpiredJourneyHoldIsLookedAtAfresh(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	f.playbook("sop", sopWithLimit(2))
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, HeldFor: time.Hour})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	runs, err := e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil || runs[0].Status != engine.RunHeld {
		t.Fatalf("entry: %+v, %v", runs, err)
	}
	if err := e.Sweep(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.GetRun(ctx, runs[0].ID); r.Status != engine.RunExpired {
		t.Fatalf("the hold: %s, want expired", r.Status)
	}
	again := e.ProcessJourneys(ctx, t0.Add(time.Minute))
	if len(again) != 1 || again[0].Status != engine.RunHeld || again[0].ID == runs[0].ID {
		t.Fatalf("the pass after the expiry: %+v", again)
	}
}

// A customer in a journey whose record now says they joined after the
// pass's moment is not in the pass's profiles: their due steps pass
// without firing, and the pass ends (it went on forever when the step
// stayed where it was).
func TestAPassEndsWhenACustomerIsNotInItsProfiles(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("sop", sopJourney)
	e := f.engine()
	ctx := context.Background()
	if _, err := e.Run(ctx, engine.RunRequest{At: t0, ApprovedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.PutCustomers(ctx, []domain.Customer{{ID: "c001", Tier: "normal", Member: true, JoinedAt: t0.Add(30 * day)}}, t0); err != nil {
		t.Fatal(err)
	}
	done := make(chan []*engine.Run, 1)
	go func() { done <- e.ProcessJourneys(ctx, t0.Add(25*time.Hour)) }()
	select {
	case runs := <-done:
		if len(runs) != 1 || stepCounts(runs[0])["offer"] != 1 {
			t.Fatalf("the pass: %+v", runs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the pass did not end")
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE customer_id = 'c001' AND next_step = 'last'`); n != 1 {
		t.Error("c001's offer did not pass")
	}
}

// lateJourney: after its first step, a step its when always skips, then
// a step adding the tag the last step's when asks for.
const lateJourney = `name: late
holdout: 0%
limits: { max_fires: 6 }
journey:
  enter: { on: wecom_add }
  steps:
    - id: s1
      after: 0m
      actions: [{ tag: { add: [x] } }]
    - id: s2
      after: 24h
      when: has_tag("never")
      actions: [{ tag: { add: [never-here] } }]
    - id: s3
      after: 48h
      actions: [{ tag: { add: [z] } }]
    - id: s4
      after: 72h
      when: has_tag("z")
      actions: [{ tag: { add: [done] } }]
`

// A pass four days late takes s2 (skipped), s3 and s4 for each of four
// customers: eight fires, though s4's when is false on the profile from
// before the pass. The guard counts s4 (its when may read what s3 does)
// and holds the pass; approving takes every held step, past the skipped
// s2; rejecting passes them all, firing nothing.
func TestAHeldLatePassTakesItsStepsPastSkippedOnes(t *testing.T) {
	for _, decide := range []string{"approve", "reject"} {
		t.Run(decide, func(t *testing.T) {
			f := newFixture(t)
			f.customers(4, 0)
			f.playbook("late", lateJourney)
			e := f.engine()
			ctx := context.Background()
			pb, _ := e.Playbook("late")
			var evs []domain.Event
			for i := range 4 {
				evs = append(evs, domain.Event{ID: fmt.Sprintf("a%d", i), CustomerID: fmt.Sprintf("c%03d", i), Type: "wecom_add", At: t0})
			}
			if _, err := e.AddEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			if r, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0, Events: evs}); err != nil || r.Fired != 4 {
				t.Fatalf("entry: %+v, %v", r, err)
			}
			r, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0.Add(96 * time.Hour)})
			if err != nil || r.Status != engine.RunHeld {
				t.Fatalf("the late pass: %s (%v); want held, its 8 fires over max_fires 6", r.Status, err)
			}
			at := t0.Add(97 * time.Hour)
			if decide == "approve" {
				r, err = e.Approve(ctx, r.ID, "ops", at)
				if err != nil || r.Fired != 8 || stepCounts(r)["s4"] != 4 || r.Rules[1].Suppressed[engine.ReasonStepWhen] != 4 {
					t.Fatalf("approve: %+v %v, %v", stepCounts(r), r.Rules[1].Suppressed, err)
				}
			} else {
				if _, err := e.Reject(ctx, r.ID, "ops", at); err != nil {
					t.Fatal(err)
				}
				if n := f.count(`SELECT count(*) FROM fires WHERE rule != 's1'`); n != 0 {
					t.Fatalf("a rejected pass fired %d", n)
				}
			}
			if n := f.count(`SELECT count(*) FROM journey_state WHERE status = 'completed'`); n != 4 {
				t.Errorf("after %s: %d of 4 journeys completed", decide, n)
			}
			if runs := e.ProcessJourneys(ctx, t0.Add(98*time.Hour)); len(runs) != 0 {
				t.Errorf("a pass after the decision: %+v", runs)
			}
		})
	}
}

// flakyStates is the store with JourneyStates failing its first calls,
// as a database busy with another process's write does.
type flakyStates struct {
	*sqlite.DB
	fails int
}

func (s *flakyStates) JourneyStates(ctx context.Context, journey string, ids []string) (map[string]domain.JourneyState, error) {
	if s.fails > 0 {
		s.fails--
		return nil, errors.New("database is locked")
	}
	return s.DB.JourneyStates(ctx, journey, ids)
}

// A journey's pass on events is tried again when it fails: the events'
// entries are made only there.
func TestAJourneyPassOnEventsIsTriedAgain(t *testing.T) {
	f := newFixture(t)
	f.customers(1, 0)
	f.playbook("sop", `name: sop
holdout: 0%
journey:
  enter: { on: wecom_add }
  steps:
    - id: welcome
      after: 0m
      actions: [{ tag: { add: [sop] } }]
`)
	store := &flakyStates{DB: f.db}
	e := engine.New(store, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := engine.TriggerOptions{Now: func() time.Time { return t0 }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "a0", CustomerID: "c000", Type: "wecom_add", At: t0}}); err != nil {
		t.Fatal(err)
	}
	store.fails = 2
	runs, err := e.ProcessTriggers(ctx, opts)
	if err != nil || len(runs) != 1 || runs[0].Audience != 1 || runs[0].Fired != 1 {
		t.Fatalf("after two failures: %+v, %v", runs, err)
	}
}

// sopWithLimit is sopJourney with limits.max_fires n.
func sopWithLimit(n int) string {
	return strings.Replace(sopJourney, "holdout: 0%", fmt.Sprintf("holdout: 0%%\nlimits: { max_fires: %d }", n), 1)
}

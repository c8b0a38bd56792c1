package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// A run records what triggered it; LastRunAt finds the latest finished run
// of a playbook, which the scheduler uses to see a missed run.
func TestRunTriggerAndLastRunAt(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 3)
	f.playbook("p", `name: p
schedule: "0 10 * * *"
rules:
  - id: buyers
    when: orders >= 1
    cooldown: 7d
    actions:
      - tag: { add: [seen] }
`)
	e := f.engine()
	ctx := context.Background()
	if _, ok, err := e.LastRunAt(ctx, "p"); err != nil || ok {
		t.Fatalf("before any run: ok=%v err=%v", ok, err)
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: t0, Trigger: engine.TriggerLate})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.db.GetRun(ctx, runs[0].ID)
	if err != nil || stored.Trigger != engine.TriggerLate {
		t.Fatalf("stored trigger %q (%v), want late", stored.Trigger, err)
	}
	f.run(e, t0.Add(day), false)
	last, ok, err := e.LastRunAt(ctx, "p")
	if err != nil || !ok || !last.Equal(t0.Add(day)) {
		t.Fatalf("last run at %v ok=%v err=%v, want %v", last, ok, err, t0.Add(day))
	}
	got, _ := f.db.GetRun(ctx, runs[0].ID+1)
	if got.Trigger != engine.TriggerManual {
		t.Fatalf("a run without a trigger is recorded as %q, want manual", got.Trigger)
	}
}

// Event-triggered runs do not count as the playbook's last run: they
// evaluate only on-rules, so after downtime the scheduled run is still owed.
func TestLastRunAtIgnoresEventRuns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("thanks", thanks)
	e := f.engine()
	f.run(e, t0, false)
	now := t0.Add(3 * day)
	opts := engine.TriggerOptions{Now: func() time.Time { return now }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "o1", CustomerID: "c000", Type: "order", At: now, AmountFen: 100}}); err != nil {
		t.Fatal(err)
	}
	if runs, err := e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 1 {
		t.Fatalf("triggered runs: %v %v", runs, err)
	}
	last, ok, err := e.LastRunAt(ctx, "thanks")
	if err != nil || !ok || !last.Equal(t0) {
		t.Fatalf("last run at %v (ok %v, %v), want the scheduled run's %v", last, ok, err, t0)
	}
}

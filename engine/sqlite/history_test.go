package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/evaluate"
)

// The in-memory fire history answers what the store's FireMarks does,
// for every rule and benefit group of every playbook and every customer:
// after runs that fire, hold out, suppress by group and by once, after a
// dry run, after a rule joins a group it fired outside of, and when a
// fresh engine loads the history back from the store.
func TestInMemoryHistoryMatchesTheStore(t *testing.T) {
	f := newFixture(t)
	f.customers(40, 10)
	f.playbook("a-day", memberDay)
	f.playbook("b-upgrade", upgrade)
	f.playbook("c-welcome", welcome)
	// d-held's nudge joins a group later on, with fires recorded outside it.
	held := func(nudgeGroup string) string {
		return `
name: d-held
holdout: 30%
limits: { max_fires: 100% }
rules:
  - id: nudge
    group: "` + nudgeGroup + `"
    when: "true"
    cooldown: 3d
    actions: [{ tag: { add: [nudged] } }]
  - id: loner
    when: tier == "gold"
    cooldown: 2d
    actions: [{ tag: { add: [loner] } }]
`
	}
	f.playbook("d-held", held(""))
	ctx := context.Background()
	e := f.engine()
	compare := func(step string, e *engine.Engine) {
		t.Helper()
		pond, err := f.db.LoadPond(ctx)
		if err != nil {
			t.Fatal(err)
		}
		groups := evaluate.GroupRules{}
		for _, pb := range e.Playbooks() {
			for _, r := range pb.Rules {
				if r.Group != "" {
					groups[r.Group] = append(groups[r.Group], evaluate.RuleRef{Playbook: pb.Name, Rule: r.ID})
				}
			}
		}
		checked := 0
		for _, pb := range e.Playbooks() {
			mem, err := e.Marks(ctx, pb.Name)
			if err != nil {
				t.Fatal(err)
			}
			own := evaluate.GroupRules{}
			for _, g := range pb.Groups() {
				own[g] = groups[g]
			}
			stored, err := f.db.FireMarks(ctx, pb.Name, own)
			if err != nil {
				t.Fatal(err)
			}
			for pos, c := range pond.Customers {
				for _, r := range pb.Rules {
					if got, want := mem.Rule(r.ID, pos, c.ID), stored.Rule(r.ID, pos, c.ID); got != want {
						t.Errorf("%s: %s/%s for %s: in memory %+v, the store says %+v", step, pb.Name, r.ID, c.ID, got, want)
					}
					if got, want := mem.Group(r.Group, pos, c.ID), stored.Group(r.Group, pos, c.ID); got != want {
						t.Errorf("%s: group %s of %s/%s for %s: in memory %+v, the store says %+v", step, r.Group, pb.Name, r.ID, c.ID, got, want)
					}
					checked++
				}
			}
		}
		if checked == 0 {
			t.Fatalf("%s: nothing compared", step)
		}
	}
	run := func(at time.Time, dry bool, playbooks ...string) {
		t.Helper()
		if _, err := e.Run(ctx, engine.RunRequest{At: at, DryRun: dry, Playbooks: playbooks}); err != nil {
			t.Fatal(err)
		}
	}
	fires := func() int { return f.count(`SELECT count(*) FROM fires`) }
	compare("before any run", e)
	run(t0, false)
	if fires() == 0 {
		t.Fatal("the first run fired nothing: not the case this test is for")
	}
	compare("after the first run", e)
	run(t0.Add(24*time.Hour), true)
	compare("after a dry run", e)
	for d := 1; d <= 30; d += 4 {
		run(t0.Add(time.Duration(d)*24*time.Hour), false)
		compare(fmt.Sprintf("after day %d", d), e)
	}
	f.playbook("d-held", held("voucher"))
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	compare("after nudge joined the group", e)
	run(t0.Add(40*24*time.Hour), false)
	compare("after a run with nudge in the group", e)
	compare("in a fresh engine", f.engine())
	// A server that stops saves its pond image with the history; the
	// next one reads both from it.
	if err := e.SavePondImage(ctx); err != nil {
		t.Fatal(err)
	}
	compare("in a fresh engine from the pond image", f.engine())
}

// A fire of a benefit group that commits between a run's evaluation and
// its write (here an event-triggered rule of the same engine, between two
// of the run's batches) takes the group's number the run had read: the
// store refuses the run's fire for that customer, and the customer gets
// one fire of the group, not two.
func TestAGroupFireBetweenEvaluationAndWriteWinsTheGroup(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 0)
	f.playbook("x", `
name: x
limits: { max_fires: 100% }
rules:
  - id: all
    group: g
    when: "true"
    cooldown: 30d
    actions: [{ coupon: { amount: 5, expires_in: 3d } }]
`)
	f.playbook("y", onOrderThanks("30d"))
	ctx := context.Background()
	var e *engine.Engine
	interrupted := false
	e = engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7,
		AfterBatch: func(playbook string, written int) {
			if playbook != "x" || interrupted {
				return
			}
			interrupted = true
			// c019 is in x's last batch: its order triggers y now.
			order(t, e, "o-late", "c019", t0)
			if _, err := e.ProcessTriggers(ctx, engine.TriggerOptions{Now: func() time.Time { return t0 }}); err != nil {
				t.Error(err)
			}
		}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	// Move the trigger cursor past the history, as a server would, and
	// have a population at hand, so that the triggered run in the middle
	// of x's needs no snapshot of its own (x holds it).
	if _, err := e.ProcessTriggers(ctx, engine.TriggerOptions{Now: func() time.Time { return t0 }}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(ctx, engine.RunRequest{Playbooks: []string{"x"}, At: t0, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	e.Wait()
	if _, err := e.Run(ctx, engine.RunRequest{Playbooks: []string{"x"}, At: t0}); err != nil {
		t.Fatal(err)
	}
	if !interrupted {
		t.Fatal("x wrote in one batch: not the case this test is for")
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE playbook = 'on-order' AND customer_id = 'c019'`); n != 1 {
		t.Fatalf("the order triggered %d fires for c019, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE grp = 'g' AND customer_id = 'c019'`); n != 1 {
		t.Errorf("c019 has %d fires of group g, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE grp = 'g'`); n != 20 {
		t.Errorf("%d fires of group g for 20 customers, want 20", n)
	}
}

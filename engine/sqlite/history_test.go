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
	f.playbook("d-held", `
name: d-held
holdout: 30%
limits: { max_fires: 100% }
rules:
  - id: nudge
    when: "true"
    cooldown: 3d
    actions: [{ tag: { add: [nudged] } }]
  - id: loner
    when: tier == "gold"
    cooldown: 2d
    actions: [{ tag: { add: [loner] } }]
`)
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
	// nudge joins the voucher group, with fires recorded outside it.
	f.playbook("d-held", `
name: d-held
holdout: 30%
limits: { max_fires: 100% }
rules:
  - id: nudge
    group: voucher
    when: "true"
    cooldown: 3d
    actions: [{ tag: { add: [nudged] } }]
  - id: loner
    when: tier == "gold"
    cooldown: 2d
    actions: [{ tag: { add: [loner] } }]
`)
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	compare("after nudge joined the group", e)
	run(t0.Add(40*24*time.Hour), false)
	compare("after a run with nudge in the group", e)
	compare("in a fresh engine", f.engine())
}

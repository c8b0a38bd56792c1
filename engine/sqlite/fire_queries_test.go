package sqlite_test

import (
	"context"
	"testing"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// onceAndCooldown is playbook a: a once rule for everyone, and a rule for
// buyers with a day's cooldown.
const onceAndCooldown = `
name: a
limits: { max_fires: 10000 }
rules:
  - id: one
    when: "true"
    once: true
    actions:
      - tag: { add: [a] }
  - id: two
    when: orders >= 1
    cooldown: 1d
    actions:
      - tag: { add: [b] }
`

// A run's fires and a customer's fires are found without secondary
// indexes on fires (migration 0004), also when runs interleave.
func TestRunAndCustomerFires(t *testing.T) {
	f := newFixture(t)
	f.customers(30, 30)
	f.playbook("a", onceAndCooldown)
	f.playbook("b", `
name: b
limits: { max_fires: 10000 }
rules:
  - id: three
    when: has_tag("a")
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 3d }
`)
	e := f.engine() // batches of 7: the runs' fires interleave with nothing, but span batches
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	later, err := e.Run(context.Background(), engine.RunRequest{At: t0.Add(2 * day), Playbooks: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range append(runs, later...) {
		got, err := f.db.RunFires(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != r.Fired || r.Fired == 0 {
			t.Errorf("run %d of %s: %d fires read, %d fired", r.ID, r.Playbook, len(got), r.Fired)
		}
		for _, fr := range got {
			if fr.RunID != r.ID {
				t.Errorf("run %d: fire of run %d", r.ID, fr.RunID)
			}
		}
		stored, err := f.db.GetRun(ctx, r.ID)
		if err != nil || stored.FirstFireID == 0 || stored.LastFireID < stored.FirstFireID {
			t.Errorf("run %d: stored fire range %d-%d (%v)", r.ID, stored.FirstFireID, stored.LastFireID, err)
		}
	}
	hist, err := f.db.CustomerFires(ctx, "c007")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fr := range hist {
		if fr.CustomerID != "c007" {
			t.Errorf("history of c007 holds a fire of %s", fr.CustomerID)
		}
		got = append(got, fr.Playbook+"/"+fr.Rule)
	}
	// Newest first: the later run's cooldown rule, then the first run's three.
	if len(got) != 4 || got[0] != "a/two" {
		t.Errorf("history of c007 = %v, want a/two first of 4", got)
	}
	if h, err := f.db.CustomerFires(ctx, "nobody"); err != nil || len(h) != 0 {
		t.Errorf("history of nobody = %v, %v", h, err)
	}
	if _, err := f.db.RunFires(ctx, 999); domain.ErrorCode(err) != domain.ENotFound {
		t.Errorf("RunFires of a missing run = %v, want not found", err)
	}
}

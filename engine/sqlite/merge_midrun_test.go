package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

const midRun = `
name: mr
limits: { max_fires: 100% }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ tag: { add: [welcomed] } }]
  - id: voucher
    when: "true"
    cooldown: 20d
    actions: [{ coupon: { amount: 10, expires_in: 7d } }]
`

// Merges committed between a run's batches: the merged customer's
// decisions go (gone); the survivor, decided on before the merge, gets no
// second once fire nor a voucher inside the merged cooldown.
func TestMergeMidRun(t *testing.T) { mergeMidRun(t, false) }

// The same, with the merges committed by another process (the pond is
// behind: the checks read the transaction).
func TestMergeMidRunByAnotherProcess(t *testing.T) { mergeMidRun(t, true) }

func mergeMidRun(t *testing.T, byOther bool) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("mr", midRun)
	var e *engine.Engine
	other := f.otherWriter()
	var once sync.Once
	var mergeErr error
	e = engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 4, AfterBatch: func(pb string, written int) {
		once.Do(func() {
			// k01 was written (welcome, voucher); k15 was not. k01 is younger: it merges into k15.
			cs := []domain.Customer{
				{ID: "k01", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{{Kind: "member_no", Value: "X"}}},
				{ID: "k15", JoinedAt: t0.Add(-30 * day), Identities: []domain.Identity{{Kind: "member_no", Value: "X"}}},
				// k16 (not written) is younger than k00 (written): k16 goes.
				{ID: "k16", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{{Kind: "member_no", Value: "Y"}}},
				{ID: "k00", JoinedAt: t0.Add(-30 * day), Identities: []domain.Identity{{Kind: "member_no", Value: "Y"}}},
			}
			if byOther {
				_, mergeErr = other.StoreCustomers(ctx, domain.CustomerBatch{Now: t0, Source: "other", Customers: cs})
			} else {
				_, mergeErr = e.StoreCustomers(ctx, cs, t0, "mid-run")
			}
		})
	}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	var cs []domain.Customer
	for i := 0; i < 20; i++ {
		j := t0.Add(-1 * day)
		if i == 15 || i == 0 {
			j = t0.Add(-30 * day)
		}
		cs = append(cs, domain.Customer{ID: fmt.Sprintf("k%02d", i), JoinedAt: j})
	}
	storeAll(t, e, t0.Add(-time.Hour), cs...)
	runs, err := e.Run(ctx, engine.RunRequest{At: t0, ApprovedBy: "t"})
	if err != nil || mergeErr != nil {
		t.Fatal(err, mergeErr)
	}
	r := runs[0]
	t.Logf("fired %d welcome %+v voucher %+v", r.Fired, r.Rules[0], r.Rules[1])
	for _, c := range []string{"k15", "k00"} {
		if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'welcome' AND customer_id = ?`, c); n != 1 {
			t.Errorf("%s has %d welcome (once) fires", c, n)
		}
		if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'voucher' AND customer_id = ?`, c); n != 1 {
			t.Errorf("%s has %d vouchers within a 20d cooldown", c, n)
		}
		if n := f.count(`SELECT count(*) FROM coupons WHERE customer_id = ?`, c); n != 1 {
			t.Errorf("%s has %d coupons", c, n)
		}
	}
	if g := r.Rules[0].Suppressed[evaluate.ReasonGone]; g != 1 {
		t.Errorf("welcome gone %d, want 1 (k16)", g)
	}
	checkInvariants(t, f, "mid-run")
	// and the pond agrees with a fresh load
	fresh := f.engine()
	for _, c := range []string{"k15", "k00"} {
		a, _ := e.Profile(ctx, c, t0)
		b, _ := fresh.Profile(ctx, c, t0)
		if fmt.Sprint(a.Values()) != fmt.Sprint(b.Values()) {
			t.Errorf("%s resident %v\nfresh %v", c, a.Values(), b.Values())
		}
	}
	for _, c := range []string{"k15", "k00"} {
		for _, rule := range []string{"welcome", "voucher"} {
			x1, _ := e.Explain(ctx, engine.ExplainRequest{Playbook: "mr", Rule: rule, CustomerID: c, At: t0.Add(time.Hour)})
			x2, _ := fresh.Explain(ctx, engine.ExplainRequest{Playbook: "mr", Rule: rule, CustomerID: c, At: t0.Add(time.Hour)})
			if x1.Verdict != x2.Verdict || x1.Reason != x2.Reason {
				t.Errorf("%s/%s resident %s %s, fresh %s %s", c, rule, x1.Verdict, x1.Reason, x2.Verdict, x2.Reason)
			}
		}
	}
}

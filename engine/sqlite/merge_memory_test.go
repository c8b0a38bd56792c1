package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// The resident engine after random merges (records with and without ids,
// LinkIdentities, opt-outs, deletions) explains every rule and profiles
// every customer as a freshly loaded engine does.
func TestMergesInMemoryEqualAFreshLoad(t *testing.T) {
	for seed := int64(1); seed <= memorySeeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { memoryFuzz(t, seed) })
	}
}

func memoryFuzz(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("fz", fuzzRules)
	f.playbook("fy", fuzzRules2)
	e := f.policyEngine(`cap: { messages: 100, per: 1d }`)
	const n = 16
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%02d", i)
	}
	known := map[string]bool{}
	now := t0
	evn := 0
	ident := func() domain.Identity {
		return domain.Identity{Kind: "member_no", Value: fmt.Sprint("M", rng.Intn(n+4))}
	}
	for step := 0; step < 12; step++ {
		now = now.Add(time.Duration(10+rng.Intn(30)) * time.Hour)
		var batch []domain.Customer
		for r := 0; r < 1+rng.Intn(4); r++ {
			c := domain.Customer{Tags: []string{fmt.Sprint("t", rng.Intn(3))}}
			if rng.Intn(3) > 0 {
				c.ID = ids[rng.Intn(n)]
				if rng.Intn(2) == 0 {
					c.JoinedAt = t0.Add(-time.Duration(rng.Intn(5)) * day)
				}
			}
			for k := 0; k < rng.Intn(3); k++ {
				c.Identities = append(c.Identities, ident())
			}
			if rng.Intn(4) == 0 {
				c.OptOut = []string{"log"}
			}
			if c.ID == "" && len(c.Identities) == 0 {
				continue
			}
			batch = append(batch, c)
		}
		if len(batch) == 0 {
			continue
		}
		res, err := e.StoreCustomers(ctx, batch, now, "fuzz")
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for _, id := range res.IDs {
			known[id] = true
		}
		switch rng.Intn(4) {
		case 0: // a link, as a callback makes
			id := ids[rng.Intn(n)]
			if known[id] {
				if _, err := e.LinkIdentities(ctx, id, []domain.Identity{ident()}, now, "fuzz link"); err != nil {
					t.Fatalf("step %d link: %v", step, err)
				}
			}
		case 2: // a deletion
			id := ids[rng.Intn(n)]
			if known[id] && rng.Intn(3) == 0 {
				if err := e.DeleteCustomer(ctx, id); err != nil {
					t.Fatalf("delete: %v", err)
				}
				for k := range known {
					if _, err := e.Customer(ctx, k); err != nil {
						delete(known, k)
					}
				}
			}
		case 1:
			id := ids[rng.Intn(n)]
			if known[id] {
				if _, err := e.SetOptOut(ctx, id, "hook", true); err != nil {
					t.Fatalf("opt-out: %v", err)
				}
			}
		}
		var evs []domain.Event
		for k := 0; k < 5; k++ {
			id := ids[rng.Intn(n)]
			if !known[id] {
				continue
			}
			evn++
			typ := "visit"
			if rng.Intn(3) == 0 {
				typ = "order"
			}
			evs = append(evs, domain.Event{ID: fmt.Sprint("e", evn), CustomerID: id, Type: typ, At: now.Add(-time.Duration(rng.Intn(40)) * time.Hour), AmountFen: 100})
		}
		if r, err := e.AddEvents(ctx, evs); err != nil || len(r.ItemErrs) > 0 {
			t.Fatalf("step %d events: %v %v", step, err, r.ItemErrs)
		}
		if _, err := e.Run(ctx, runAt(now)); err != nil {
			t.Fatalf("step %d run: %v", step, err)
		}
		fresh := f.policyEngine(`cap: { messages: 100, per: 1d }`)
		at := now.Add(time.Duration(rng.Intn(48)) * time.Hour)
		for id := range known {
			c, err := e.Customer(ctx, id)
			if err != nil {
				continue
			}
			p1, err1 := e.Profile(ctx, c.ID, at)
			p2, err2 := fresh.Profile(ctx, c.ID, at)
			if (err1 == nil) != (err2 == nil) {
				t.Errorf("step %d %s: resident %v, fresh %v", step, c.ID, err1, err2)
				continue
			}
			if err1 == nil {
				v1, v2 := p1.Values(), p2.Values()
				delete(v1, "rfm") // population quantiles are cached (popMaxAge)
				delete(v2, "rfm")
				if a, b := fmt.Sprint(v1), fmt.Sprint(v2); a != b {
					t.Errorf("step %d %s profile:\nresident %s\nfresh    %s", step, c.ID, a, b)
				}
			}
			for _, pr := range [][2]string{{"fz", "welcome"}, {"fz", "voucher"}, {"fz", "nudge"}, {"fy", "other"}} {
				x1, err1 := e.Explain(ctx, engine.ExplainRequest{Playbook: pr[0], Rule: pr[1], CustomerID: id, At: at})
				x2, err2 := fresh.Explain(ctx, engine.ExplainRequest{Playbook: pr[0], Rule: pr[1], CustomerID: id, At: at})
				j1, _ := json.Marshal(x1)
				j2, _ := json.Marshal(x2)
				if fmt.Sprint(err1) != fmt.Sprint(err2) || string(j1) != string(j2) {
					t.Errorf("step %d explain %s/%s %s:\nresident %s %v\nfresh    %s %v", step, pr[0], pr[1], id, j1, err1, j2, err2)
				}
			}
		}
	}
}

// memorySeeds is how many random histories TestMergesInMemoryEqualAFreshLoad
// plays: fewer under the race detector, which slows SQLite tenfold.
var memorySeeds = func() int64 {
	if raceOn {
		return 3
	}
	return 20
}()

package sqlite_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

const fuzzJourney = `name: jr
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter:
    when: "true"
  reenter: 2d
  exit_when: orders_since_entry > 0
  steps:
    - id: s1
      after: 0m
      actions: [{ tag: { add: [s1] } }]
    - id: s2
      after: 30h
      actions: [{ message: { channel: log, template: "s2" } }]
    - id: s3
      after: 60h
      actions: [{ tag: { add: [s3] } }]
`

const fuzzRules = `
name: fz
limits: { max_fires: 100% }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ tag: { add: [welcomed] } }]
  - id: voucher
    group: monthly
    when: "true"
    cooldown: 20h
    actions: [{ coupon: { amount: 10, expires_in: 7d } }]
  - id: nudge
    when: "true"
    cooldown: 1d
    actions: [{ message: { channel: log, template: "hi" } }]
`
const fuzzRules2 = `
name: fy
limits: { max_fires: 100% }
rules:
  - id: other
    group: monthly
    when: "true"
    cooldown: 2d
    actions: [{ tag: { add: [o] } }]
`

// Random batches of records merge customers in chains, within a batch
// and across batches, by merged ids and by several identities at once,
// while events arrive by merged ids, fires are archived, and rules and a
// journey run: after each step no row names a customer who is gone, no
// alias is a customer, fires are numbered 1..n in time order, at most one
// journey entry is under way and it is the latest, once holds across
// merges, survivors match a union-find model, and the engine's pond
// equals a freshly loaded one.
func TestRandomMergesKeepInvariants(t *testing.T) {
	seeds := int64(12)
	if raceOn {
		seeds = 2 // the same code paths, at a tenth of the rounds
	}
	for seed := int64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { fuzzMerges(t, seed) })
	}
}

func fuzzMerges(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("fz", fuzzRules)
	f.playbook("fy", fuzzRules2)
	f.playbook("jr", fuzzJourney)
	e := f.policyEngine(`cap: { messages: 100, per: 1d }`)
	const n = 24
	joined := map[string]time.Time{}
	parent := map[string]string{} // model: id → survivor
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			return find(p)
		}
		return x
	}
	older := func(a, b string) bool {
		if !joined[a].Equal(joined[b]) {
			return joined[a].Before(joined[b])
		}
		return a < b
	}
	owner := map[string]string{} // identity key → id (model, before find)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%02d", i)
		joined[ids[i]] = t0.Add(-time.Duration(rng.Intn(5)) * day) // ties on purpose
	}
	now := t0
	evn := 0
	known := map[string]bool{}
	for step := 0; step < 14; step++ {
		now = now.Add(time.Duration(10+rng.Intn(30)) * time.Hour)
		// a batch of records
		var batch []domain.Customer
		for r := 0; r < 1+rng.Intn(4); r++ {
			id := ids[rng.Intn(n)]
			var idents []domain.Identity
			for k := 0; k < rng.Intn(4); k++ {
				idents = append(idents, domain.Identity{Kind: "member_no", Value: fmt.Sprint("M", rng.Intn(n+6))})
			}
			batch = append(batch, domain.Customer{ID: id, JoinedAt: joined[id], Identities: idents, Tags: []string{"t" + id}})
		}
		if _, err := e.StoreCustomers(ctx, batch, now, "fuzz"); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		// model
		for _, c := range batch {
			known[c.ID] = true
			cur := find(c.ID)
			for _, id := range c.Identities {
				k := id.Value
				if o, ok := owner[k]; ok {
					a, b := find(o), cur
					if a != b {
						if older(a, b) {
							parent[b] = a
							cur = a
						} else {
							parent[a] = b
						}
					}
				} else {
					owner[k] = cur
				}
			}
		}
		// events, some by merged ids
		var evs []domain.Event
		for k := 0; k < 5; k++ {
			id := ids[rng.Intn(n)]
			if !known[id] {
				continue
			}
			evn++
			typ := "visit"
			if rng.Intn(4) == 0 {
				typ = "order"
			}
			evs = append(evs, domain.Event{ID: fmt.Sprint("e", evn), CustomerID: id, Type: typ, At: now.Add(-time.Hour), AmountFen: 100})
		}
		if res, err := e.AddEvents(ctx, evs); err != nil || len(res.ItemErrs) > 0 {
			t.Fatalf("step %d events: %v %v", step, err, res.ItemErrs)
		}
		if _, err := f.db.ArchiveFires(ctx, time.Now().Add(time.Hour)); err != nil && step%3 == 0 {
			t.Fatal(err)
		}
		if _, err := e.Run(ctx, runAt(now)); err != nil {
			t.Fatalf("step %d run: %v", step, err)
		}
		checkInvariants(t, f, fmt.Sprintf("seed step %d", step))
		// model vs store
		for id := range known {
			c, err := e.Customer(ctx, id)
			if err != nil {
				t.Fatalf("step %d: customer %s: %v", step, id, err)
			}
			if c.ID != find(id) {
				t.Errorf("step %d: %s is %s, model says %s", step, id, c.ID, find(id))
			}
			p, err := e.Profile(ctx, c.ID, now)
			if err != nil {
				t.Fatalf("profile %s: %v", c.ID, err)
			}
			e2 := f.engine()
			p2, err := e2.Profile(ctx, c.ID, now)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := fmt.Sprint(p.Values()), fmt.Sprint(p2.Values()); a != b {
				t.Errorf("step %d: %s's profile in the resident pond differs from a fresh load:\n%s\n%s", step, c.ID, a, b)
			}
		}
	}
	t.Logf("merges %d fires %d (archive %d) journey rows %d exited %d coupons %d contacts %d customers %d", f.count(`SELECT count(*) FROM merges`), f.count(`SELECT count(*) FROM fires`),
		f.count(`SELECT count(*) FROM fires_archive`), f.count(`SELECT count(*) FROM journey_state`), f.count(`SELECT count(*) FROM journey_state WHERE status='exited'`),
		f.count(`SELECT count(*) FROM coupons`), f.count(`SELECT count(*) FROM contacts`), f.count(`SELECT count(*) FROM customers`))
}

func checkInvariants(t *testing.T, f *fixture, at string) {
	t.Helper()
	for _, table := range []string{"events", "fires", "coupons", "contacts", "jobs", "tasks", "held_fires", "journey_state", "identities", "customer_aliases", "customer_changes"} {
		if n := f.count(`SELECT count(*) FROM ` + table + ` WHERE customer_id NOT IN (SELECT id FROM customers)`); n != 0 {
			t.Errorf("%s: %d %s rows of no customer", at, n, table)
		}
	}
	if n := f.count(`SELECT count(*) FROM customer_aliases WHERE alias IN (SELECT id FROM customers)`); n != 0 {
		t.Errorf("%s: %d aliases that are customers", at, n)
	}
	// fires: per (pb, rule, customer) seq 1..n in time order (non-journey)
	if n := f.count(`SELECT count(*) FROM fires x WHERE playbook != 'jr' AND seq != (SELECT count(*) FROM fires y WHERE y.playbook = x.playbook AND y.rule = x.rule AND y.customer_id = x.customer_id AND (y.at < x.at OR (y.at = x.at AND y.seq <= x.seq)))`); n != 0 {
		t.Errorf("%s: %d fires not numbered 1..n in time order", at, n)
	}
	if n := f.count(`SELECT count(*) FROM fires x WHERE grp IS NOT NULL AND gseq != (SELECT count(*) FROM fires y WHERE y.grp = x.grp AND y.customer_id = x.customer_id AND (y.at < x.at OR (y.at = x.at AND y.gseq <= x.gseq)))`); n != 0 {
		t.Errorf("%s: %d group fires not numbered 1..n in time order", at, n)
	}
	// once
	if n := f.count(`SELECT count(*) FROM (SELECT customer_id FROM fires WHERE rule = 'welcome' GROUP BY customer_id HAVING count(*) > 1 AND max(at) > (SELECT coalesce(max(m.at), 0) FROM merges m WHERE m.survivor = fires.customer_id))`); n != 0 {
		t.Errorf("%s: %d customers with a once fire after their last merge besides another", at, n)
	}
	// journey: at most one entered, and it is the latest
	if n := f.count(`SELECT count(*) FROM journey_state x WHERE status = 'entered' AND entry != (SELECT max(entry) FROM journey_state y WHERE y.journey = x.journey AND y.customer_id = x.customer_id)`); n != 0 {
		t.Errorf("%s: %d entries under way that are not the latest", at, n)
	}
	// journey fires follow an entry
	if n := f.count(`SELECT count(*) FROM fires x WHERE playbook = 'jr' AND NOT EXISTS (SELECT 1 FROM journey_state j WHERE j.journey = 'jr' AND j.customer_id = x.customer_id AND j.entry = x.seq)`); n != 0 {
		t.Errorf("%s: %d journey fires of no entry", at, n)
	}
	// a journey step fires at most once per entry, and not before entering
	if n := f.count(`SELECT count(*) FROM fires x JOIN journey_state j ON j.journey = 'jr' AND j.customer_id = x.customer_id AND j.entry = x.seq WHERE x.playbook = 'jr' AND x.at < j.entered_at`); n != 0 {
		t.Errorf("%s: %d journey fires before their entry", at, n)
	}
}

func runAt(at time.Time) engine.RunRequest { return engine.RunRequest{At: at, ApprovedBy: "fuzz"} }

package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
)

var mergeU = domain.Identity{Kind: "unionid", Value: "adv-u"}

func storeAll(t testing.TB, e *engine.Engine, at time.Time, cs ...domain.Customer) domain.StoredCustomers {
	t.Helper()
	res, err := e.StoreCustomers(context.Background(), cs, at, "test")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The merged customer's wecom_id names them as their wecom_external_userid:
// after the merge it names the survivor, who keeps its own wecom_id.
func TestMergeKeepsTheMergedWeComID(t *testing.T) {
	f := newFixture(t)
	e := f.engine()
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "old", WeComID: "wmOLD", JoinedAt: t0.Add(-10 * day)})
	storeAll(t, e, t0, domain.Customer{ID: "young", WeComID: "wmYOUNG", JoinedAt: t0.Add(-1 * day)})
	w := domain.Identity{Kind: "wecom_external_userid", Value: "wmYOUNG"}
	if c, err := e.ResolveIdentity(ctx, w); err != nil || c != "young" {
		t.Fatalf("before: %q %v", c, err)
	}
	storeAll(t, e, t0, domain.Customer{ID: "young", WeComID: "wmYOUNG", Identities: []domain.Identity{mergeU}},
		domain.Customer{ID: "old", WeComID: "wmOLD", Identities: []domain.Identity{mergeU}})
	c, err := e.ResolveIdentity(ctx, w)
	if err != nil || c != "old" {
		t.Errorf("after the merge, wecom_external_userid wmYOUNG resolves to %q (%v); want old", c, err)
	}
}

// An opt-out sent by a merged id opts the survivor out.
func TestOptOutByMergedID(t *testing.T) {
	f := newFixture(t)
	e := f.engine()
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "old", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{mergeU}})
	storeAll(t, e, t0, domain.Customer{ID: "young", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{mergeU}})
	if _, err := e.SetOptOut(ctx, "young", "sms", true); err != nil {
		t.Errorf("opt-out by the merged id: %v", err)
	}
	if c, _ := e.Customer(ctx, "old"); len(c.OptOut) != 1 {
		t.Errorf("survivor's opt-outs %v, want [sms]", c.OptOut)
	}
}

// A record of the older customer without joined_at keeps the stored one:
// the customer stays the older, the survivor of the merge the record
// makes, and keeps their join date.
func TestRecordWithoutJoinedAtKeepsIt(t *testing.T) {
	f := newFixture(t)
	e := f.engine()
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "crm-1", Name: "Li", JoinedAt: t0.Add(-400 * day)})
	storeAll(t, e, t0, domain.Customer{ID: "mp-9", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{mergeU}})
	res := storeAll(t, e, t0, domain.Customer{ID: "crm-1", Name: "Li", Identities: []domain.Identity{mergeU}})
	c, _ := e.Customer(ctx, "crm-1")
	t.Logf("merges %+v; stored %+v", res.Merges, c)
	if c.ID != "crm-1" || !c.JoinedAt.Equal(t0.Add(-400*day)) {
		t.Errorf("survivor %s joined %v; want crm-1 joined %v", c.ID, c.JoinedAt, t0.Add(-400*day))
	}
}

// Without tiers configured, the survivor without a tier takes the merged
// customer's.
func TestMergeTierWithoutTiersConfigured(t *testing.T) {
	f := newFixture(t)
	e := engine.New(f.db, f.reg, engine.Config{BatchSize: 7})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "old", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{mergeU}})
	storeAll(t, e, t0, domain.Customer{ID: "young", Tier: "gold", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{mergeU}})
	c, _ := e.Customer(ctx, "old")
	if c.Tier != "gold" {
		t.Errorf("survivor tier %q, want gold (the survivor had none)", c.Tier)
	}
}

// A merge committing while a run writes (between its batches): nothing
// is written under the merged id (the decision is gone), once holds, and
// deleting the person leaves nothing behind.
func TestMergeDuringRunWritesNothingUnderTheMergedID(t *testing.T) {
	f := newFixture(t)
	f.playbook("w", `
name: w
limits: { max_fires: 100 }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ message: { channel: log, template: "hi" } }]
`)
	var e *engine.Engine
	merged := false
	e = engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 1, Channels: []string{"log"},
		AfterBatch: func(pb string, written int) {
			if !merged {
				merged = true
				storeAll(t, e, t0, domain.Customer{ID: "b", Identities: []domain.Identity{mergeU}, JoinedAt: t0.Add(-1 * day)})
			}
		}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	storeAll(t, e, t0, domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{mergeU}},
		domain.Customer{ID: "b", JoinedAt: t0.Add(-1 * day)})
	r := f.run(e, t0, false)
	t.Logf("run: fired %d, rules %+v", r.Fired, r.Rules[0])
	for _, q := range []string{`SELECT count(*) FROM fires WHERE customer_id = 'b'`, `SELECT count(*) FROM jobs WHERE customer_id = 'b'`,
		`SELECT count(*) FROM contacts WHERE customer_id = 'b'`} {
		if n := f.count(q); n != 0 {
			t.Errorf("%s = %d: written for the merged id after the merge", q, n)
		}
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'welcome'`); n != 1 {
		t.Errorf("%d welcome fires for one person (once)", n)
	}
	// PIPL: deleting the person leaves what the run wrote under the alias.
	if err := e.DeleteCustomer(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"fires", "jobs", "contacts"} {
		if n := f.count(`SELECT count(*) FROM ` + table + ` WHERE customer_id = 'b'`); n != 0 {
			t.Errorf("after deleting the person by any id: %d %s rows of b left", n, table)
		}
	}
}

// Many fires of both customers, in both fire tables, rules of two
// playbooks in one group: after the merge each rule's and the group's
// fires are numbered 1..n in time order, and runs go on.
func TestMergeNumbersFiresInBothTables(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("p", `
name: p
limits: { max_fires: 100% }
rules:
  - id: r1
    group: g
    when: "true"
    cooldown: 1d
    actions: [{ tag: { add: [x] } }]
`)
	f.playbook("q", `
name: q
limits: { max_fires: 100% }
rules:
  - id: r2
    group: g
    when: "true"
    cooldown: 12h
    actions: [{ tag: { add: [y] } }]
  - id: r3
    when: "true"
    cooldown: 6h
    actions: [{ tag: { add: [z] } }]
`)
	e := f.engine()
	storeAll(t, e, t0, domain.Customer{ID: "a", JoinedAt: t0.Add(-100 * day)})
	for i := 0; i < 12; i++ {
		if i == 3 {
			storeAll(t, e, t0, domain.Customer{ID: "b", JoinedAt: t0.Add(-50 * day)})
		}
		f.run(e, t0.Add(time.Duration(i)*13*time.Hour), false)
		if _, err := e.Run(ctx, engine.RunRequest{At: t0.Add(time.Duration(i)*13*time.Hour + 7*time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if i == 6 {
			if _, err := f.db.ArchiveFires(ctx, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("fires: recent %d archive %d", f.count(`SELECT count(*) FROM fires_recent`), f.count(`SELECT count(*) FROM fires_archive`))
	before := f.count(`SELECT count(*) FROM fires`)
	storeAll(t, e, t0.Add(7*day), domain.Customer{ID: "b", JoinedAt: t0.Add(-50 * day), Identities: []domain.Identity{mergeU}},
		domain.Customer{ID: "a", JoinedAt: t0.Add(-100 * day), Identities: []domain.Identity{mergeU}})
	if n := f.count(`SELECT count(*) FROM fires WHERE customer_id = 'a'`); n != before {
		t.Errorf("%d fires of a, want %d", n, before)
	}
	// seq in time order, 1..n, per rule.
	for _, r := range []string{"r1", "r2", "r3"} {
		if n := f.count(`SELECT count(*) FROM fires x WHERE rule = ? AND seq != (SELECT count(*) FROM fires y WHERE y.rule = x.rule AND (y.at < x.at OR (y.at = x.at AND y.id <= x.id)))`, r); n != 0 {
			t.Errorf("rule %s: %d fires out of time order", r, n)
		}
	}
	if n := f.count(`SELECT count(*) FROM fires x WHERE grp = 'g' AND gseq != (SELECT count(*) FROM fires y WHERE y.grp = 'g' AND (y.at < x.at OR (y.at = x.at AND y.id <= x.id)))`); n != 0 {
		t.Errorf("group: %d fires out of time order", n)
	}
	// Runs go on.
	for i := 0; i < 3; i++ {
		f.run(e, t0.Add(8*day+time.Duration(i)*day), false)
	}
}

// countingStore counts the pond loads.
type countingStore struct {
	*sqlite.DB
	loads int
}

func (c *countingStore) LoadPond(ctx context.Context) (*profile.Pond, error) {
	c.loads++
	return c.DB.LoadPond(ctx)
}

// Merges are applied to the engine's pond and fire history, not loaded
// again: a request that merges must not stall the server while a million
// customers and their events load, and what the engine holds after is
// what a fresh load holds.
func TestMergesFollowedInMemory(t *testing.T) {
	f := newFixture(t)
	f.customers(2000, 2000)
	cs := &countingStore{DB: f.db}
	e := engine.New(cs, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		storeAll(t, e, t0, domain.Customer{ID: fmt.Sprintf("c%03d", i), Identities: []domain.Identity{{Kind: "member_no", Value: fmt.Sprint(i)}}})
		if _, err := e.Profile(ctx, "c001", t0); err != nil {
			t.Fatal(err)
		}
	}
	if cs.loads != 1 {
		t.Errorf("plain PUTs: the pond was loaded %d times, want once", cs.loads)
	}
	for i := 0; i < 10; i++ {
		storeAll(t, e, t0, domain.Customer{ID: fmt.Sprintf("new%03d", i), Identities: []domain.Identity{{Kind: "member_no", Value: fmt.Sprint(i)}}})
		if _, err := e.Profile(ctx, "c001", t0); err != nil {
			t.Fatal(err)
		}
	}
	if cs.loads != 1 {
		t.Errorf("merging PUTs: the pond was loaded %d times, want once (merges are applied to it)", cs.loads)
	}
	// What the engine holds is what a fresh load holds.
	fresh := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}})
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("c%03d", i)
		a, err := e.Profile(ctx, id, t0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fresh.Profile(ctx, id, t0)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a.Values()) != fmt.Sprint(b.Values()) {
			t.Errorf("%s in memory %v, loaded %v", id, a.Values(), b.Values())
		}
	}
	if _, err := e.Profile(ctx, "new003", t0); err == nil {
		t.Error("a merged id still has a profile of its own")
	}
}

// heldOfferPass has a and b enter the SOP, its offer pass held by the
// blast guard, then (with merge) b merged into a: both entries were under
// way, so b's ends and a's stays.
func heldOfferPass(t *testing.T, merge bool) (*fixture, *engine.Engine, int64) {
	t.Helper()
	f := newFixture(t)
	f.playbook("sop", sopWithLimit(1))
	e := f.engine()
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "a", Member: true, JoinedAt: t0.Add(-400 * day)},
		domain.Customer{ID: "b", Member: true, JoinedAt: t0.Add(-300 * day)})
	if _, err := e.Run(ctx, engine.RunRequest{At: t0, ApprovedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: t0.Add(25 * time.Hour)})
	if err != nil || runs[0].Status != engine.RunHeld {
		t.Fatalf("offer pass: %+v %v", runs, err)
	}
	if merge {
		storeAll(t, e, t0.Add(25*time.Hour+time.Minute), domain.Customer{ID: "b", Member: true, JoinedAt: t0.Add(-300 * day), Identities: []domain.Identity{mergeU}},
			domain.Customer{ID: "a", Member: true, JoinedAt: t0.Add(-400 * day), Identities: []domain.Identity{mergeU}})
	}
	return f, e, runs[0].ID
}

// rejectHeldOfferPass rejects the held offer pass (heldOfferPass) and
// passes the journey an hour later.
func rejectHeldOfferPass(t *testing.T, merge bool) *fixture {
	t.Helper()
	f, e, held := heldOfferPass(t, merge)
	ctx := context.Background()
	if _, err := e.Reject(ctx, held, "ops", t0.Add(25*time.Hour+2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(ctx, engine.RunRequest{At: t0.Add(26 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return f
}

// A held journey pass, a merge, then a rejection: the rejection passes
// the held step of the surviving entry (renumbered by the merge), and no
// later pass takes it.
func TestRejectHeldJourneyAfterMerge(t *testing.T) {
	f := rejectHeldOfferPass(t, true)
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'offer'`); n != 0 {
		t.Errorf("%d offer fires after the operator rejected the offer pass", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 0 {
		t.Errorf("%d coupons issued after the rejection", n)
	}
}

// The same, approved: the approval takes the held step of the survivor's
// entry under way, and nothing for the entry the merge ended.
func TestApproveHeldJourneyAfterMerge(t *testing.T) {
	f, e, held := heldOfferPass(t, true)
	ctx := context.Background()
	r, err := e.Approve(ctx, held, "ops", t0.Add(25*time.Hour+2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'offer' AND run_id = ?`, r.ID); n != 1 {
		t.Errorf("approved run wrote %d offer fires, want 1 (the survivor's entry under way)", n)
	}
}

// A merge between the batches of a journey pass leaves no row under the
// merged id.
func TestMergeDuringJourneyPass(t *testing.T) {
	f := newFixture(t)
	f.playbook("sop", sopJourney)
	var e *engine.Engine
	merged := false
	other := f.otherWriter()
	e = engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 1,
		AfterBatch: func(pb string, written int) {
			if !merged {
				merged = true
				// another process (koi import) merges b into a
				if _, err := other.StoreCustomers(context.Background(), domain.CustomerBatch{Now: t0, Tiers: []string{"normal", "gold", "vip"},
					Customers: []domain.Customer{{ID: "b", Member: true, JoinedAt: t0.Add(-300 * day), Identities: []domain.Identity{mergeU}}}}); err != nil {
					t.Error(err)
				}
			}
		}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	storeAll(t, e, t0, domain.Customer{ID: "a", Member: true, JoinedAt: t0.Add(-400 * day), Identities: []domain.Identity{mergeU}},
		domain.Customer{ID: "b", Member: true, JoinedAt: t0.Add(-300 * day)})
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0, ApprovedBy: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run %s %s", runs[0].Status, runs[0].Error)
	checkInvariantsNoJr(t, f)
	rows, _ := f.db.SQL().Query(`SELECT journey, customer_id, entry, status, next_step FROM journey_state`)
	for rows.Next() {
		var j, c, s, n string
		var en int
		rows.Scan(&j, &c, &en, &s, &n)
		t.Logf("state %s %s %d %s %s", j, c, en, s, n)
	}
	rows.Close()
}

func checkInvariantsNoJr(t *testing.T, f *fixture) {
	t.Helper()
	for _, table := range []string{"events", "fires", "coupons", "contacts", "jobs", "tasks", "held_fires", "journey_state", "identities", "customer_changes"} {
		if n := f.count(`SELECT count(*) FROM ` + table + ` WHERE customer_id NOT IN (SELECT id FROM customers)`); n != 0 {
			t.Errorf("%d %s rows of no customer (the merged id)", n, table)
		}
	}
}

// An unsubscribe event sent by a merged id opts the survivor out.
func TestUnsubscribeEventByMergedID(t *testing.T) {
	f := newFixture(t)
	e := f.policyEngine(`cap: { messages: 2, per: 7d }`)
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{mergeU}})
	storeAll(t, e, t0, domain.Customer{ID: "b", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{mergeU}})
	res, err := e.AddEvents(ctx, []domain.Event{{ID: "u1", CustomerID: "b", Type: "unsubscribe", At: t0, Attrs: map[string]any{"channel": "sms"}}})
	if err != nil || len(res.ItemErrs) > 0 {
		t.Fatal(err, res.ItemErrs)
	}
	c, _ := e.Customer(ctx, "a")
	t.Logf("a opt-out %v", c.OptOut)
	if len(c.OptOut) == 0 {
		t.Error("the survivor is not opted out")
	}
}

// A held run holding a once rule for both, a merge, then approval: one
// fire for the person.
func TestApproveHeldRunAfterMerge(t *testing.T) {
	f := newFixture(t)
	f.playbook("g", `
name: g
limits: { max_fires: 1 }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ coupon: { amount: 10, expires_in: 7d } }]
`)
	e := f.engine()
	ctx := context.Background()
	storeAll(t, e, t0, domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day)}, domain.Customer{ID: "b", JoinedAt: t0.Add(-1 * day)})
	r := f.run(e, t0, false)
	if r.Status != engine.RunHeld {
		t.Fatalf("run %s", r.Status)
	}
	storeAll(t, e, t0, domain.Customer{ID: "b", JoinedAt: t0.Add(-1 * day), Identities: []domain.Identity{mergeU}},
		domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{mergeU}})
	got, err := e.Approve(ctx, r.ID, "ops", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("approved: %s fired %d %+v", got.Status, got.Fired, *got.Rules[0])
	if n := f.count(`SELECT count(*) FROM coupons`); n != 1 {
		t.Errorf("%d coupons for one person's once rule", n)
	}
}

// reenter is measured from the latest entry's end: after a merge the
// ended entries are ordered by when they ended, so the person does not
// re-enter before reenter has passed since their last exit.
func TestReenterAfterMerge(t *testing.T) {
	f := newFixture(t)
	f.playbook("jr", `name: jr
schedule: "0 10 * * *"
holdout: 0%
journey:
  enter: { when: "true" }
  reenter: 5d
  exit_when: orders_since_entry > 0
  steps:
    - id: s1
      after: 0m
      actions: [{ tag: { add: [s1] } }]
    - id: s2
      after: 30d
      actions: [{ tag: { add: [s2] } }]
`)
	e := f.engine()
	ctx := context.Background()
	pass := func(at time.Time) {
		t.Helper()
		if _, err := e.Run(ctx, engine.RunRequest{At: at, ApprovedBy: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Time
	opts := engine.TriggerOptions{Now: func() time.Time { return now }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	order := func(id, c string, at time.Time) {
		t.Helper()
		if res, err := e.AddEvents(ctx, []domain.Event{{ID: id, CustomerID: c, Type: "order", At: at, AmountFen: 100}}); err != nil || len(res.ItemErrs) > 0 {
			t.Fatal(err, res.ItemErrs)
		}
		now = at
		if _, err := e.ProcessTriggers(ctx, opts); err != nil {
			t.Fatal(err)
		}
	}
	storeAll(t, e, t0, domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day)})
	pass(t0) // a enters
	storeAll(t, e, t0, domain.Customer{ID: "b", JoinedAt: t0.Add(-5 * day)})
	pass(t0.Add(day)) // b enters
	order("ob", "b", t0.Add(day+time.Hour))
	pass(t0.Add(day + 2*time.Hour)) // b exits
	order("oa", "a", t0.Add(5*day))
	pass(t0.Add(5*day + time.Hour)) // a exits
	if n := f.count(`SELECT count(*) FROM journey_state WHERE status = 'exited'`); n != 2 {
		t.Fatalf("%d exited", n)
	}
	storeAll(t, e, t0.Add(6*day), domain.Customer{ID: "b", JoinedAt: t0.Add(-5 * day), Identities: []domain.Identity{mergeU}},
		domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{mergeU}})
	// The person's last journey ended at day 5 + 1h: no entry before day 10 + 1h.
	pass(t0.Add(7 * day))
	if n := f.count(`SELECT count(*) FROM journey_state WHERE customer_id = 'a' AND entered_at = ?`, t0.Add(7*day).UnixMilli()); n != 0 {
		t.Errorf("re-entered at day 7, 2 days after the last entry ended (reenter: 5d)")
	}
}

// Events for ids being merged, from many goroutines, while merges run:
// none refused or lost, nothing left under a merged id.
func TestConcurrentIngestWhileMerging(t *testing.T) {
	f := newFixture(t)
	e := f.engine()
	ctx := context.Background()
	const n = 60
	for i := 0; i < n; i++ {
		storeAll(t, e, t0, domain.Customer{ID: fmt.Sprintf("c%02d", i), JoinedAt: t0.Add(-time.Duration(i) * time.Hour)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	total := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 150; k++ {
				id := fmt.Sprintf("c%02d", (k*7+g)%n)
				res, err := e.AddEvents(ctx, []domain.Event{{ID: fmt.Sprintf("g%d-%d", g, k), CustomerID: id, Type: "visit", At: t0}})
				if err != nil {
					errs <- err
					return
				}
				if len(res.ItemErrs) > 0 {
					errs <- fmt.Errorf("%s: %v", id, res.ItemErrs)
				}
			}
		}(g)
		total += 150
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: fmt.Sprintf("c%02d", i), JoinedAt: t0.Add(-time.Duration(i) * time.Hour),
				Identities: []domain.Identity{{Kind: "member_no", Value: fmt.Sprint("M", i/6)}}}}, t0, "t"); err != nil {
				errs <- err
				return
			}
			if _, err := e.Profile(ctx, "c59", t0); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.count(`SELECT count(*) FROM events`); n != total {
		t.Errorf("%d events, want %d", n, total)
	}
	checkInvariantsNoJr(t, f)
	if c := f.count(`SELECT count(*) FROM customers`); c != 10 {
		t.Errorf("%d customers, want 10", c)
	}
	// pond vs fresh
	e2 := f.engine()
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("c%02d", i*6+5)
		c, _ := e.Customer(ctx, id)
		p1, err1 := e.Profile(ctx, c.ID, t0)
		p2, err2 := e2.Profile(ctx, c.ID, t0)
		if err1 != nil || err2 != nil || fmt.Sprint(p1.Values()) != fmt.Sprint(p2.Values()) {
			t.Errorf("%s: %v %v", c.ID, err1, err2)
		}
	}
}

// A batch whose records chain merges reports each record stored as the
// final survivor.
func TestMergeChainBatchIDs(t *testing.T) {
	f := newFixture(t)
	e := f.engine()
	p := domain.Identity{Kind: "phone", Value: "13800138000"}
	m := domain.Identity{Kind: "member_no", Value: "M1"}
	storeAll(t, e, t0, domain.Customer{ID: "c", JoinedAt: t0.Add(-5 * day), Identities: []domain.Identity{p}},
		domain.Customer{ID: "d", JoinedAt: t0.Add(-9 * day), Identities: []domain.Identity{m}})
	res := storeAll(t, e, t0, domain.Customer{ID: "x", Identities: []domain.Identity{p, p}},
		domain.Customer{ID: "x", Tags: []string{"t"}},
		domain.Customer{ID: "c", JoinedAt: t0.Add(-5 * day), Identities: []domain.Identity{m}},
		domain.Customer{ID: "x", Tags: []string{"u"}})
	if fmt.Sprint(res.IDs) != "[d d d d]" {
		t.Errorf("ids %v", res.IDs)
	}
	checkInvariantsNoJr(t, f)
}

// The control for TestRejectHeldJourneyAfterMerge: without the merge,
// the rejected step does not come back.
func TestRejectHeldJourneyWithoutMerge(t *testing.T) {
	f := rejectHeldOfferPass(t, false)
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'offer'`); n != 0 {
		t.Errorf("control: %d offers", n)
	}
}

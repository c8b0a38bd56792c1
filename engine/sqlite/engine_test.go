package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/sqlite"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type fixture struct {
	t   testing.TB
	db  *sqlite.DB
	dir string
	reg *actions.Registry
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &fixture{t: t, db: db, dir: t.TempDir(), reg: builtin.Registry()}
}

// customers stores n customers c000..; the first `buyers` have one order 50 days before t0.
func (f *fixture) customers(n, buyers int) {
	f.t.Helper()
	var cs []domain.Customer
	var evs []domain.Event
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%03d", i)
		cs = append(cs, domain.Customer{ID: id, Tier: "normal", Member: true, JoinedAt: t0.Add(-400 * day)})
		if i < buyers {
			evs = append(evs, domain.Event{ID: "o-" + id, CustomerID: id, Type: "order", At: t0.Add(-50 * day), AmountFen: 10000})
		}
	}
	if err := f.db.UpsertCustomers(context.Background(), cs, t0); err != nil {
		f.t.Fatal(err)
	}
	if _, bad, err := f.db.InsertEvents(context.Background(), evs); err != nil || len(bad) > 0 {
		f.t.Fatal(err, bad)
	}
}

func (f *fixture) playbook(name, body string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name+".yaml"), []byte(body), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) engine() *engine.Engine {
	f.t.Helper()
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7})
	if err := e.Load(f.dir); err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) run(e *engine.Engine, at time.Time, dry bool) *engine.Run {
	f.t.Helper()
	runs, err := e.Run(context.Background(), engine.RunRequest{At: at, DryRun: dry})
	if err != nil {
		f.t.Fatal(err)
	}
	return runs[0]
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.SQL().QueryRow(query, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

const recall = `
name: recall
limits: { max_fires: 10000 }
rules:
  - id: recall
    when: recency_days > 45
    cooldown: 30d
    actions:
      - coupon: { amount: 20, expires_in: 7d }
  - id: welcome
    when: "true"
    once: true
    actions:
      - tag: { add: [welcomed] }
`

func TestCooldownOnceAndSequence(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 10)
	f.playbook("recall", recall)
	e := f.engine()

	r := f.run(e, t0, false)
	if r.Status != engine.RunDone || r.Rules[0].Fired != 10 || r.Rules[1].Fired != 20 {
		t.Fatalf("first run: %s recall %d welcome %d", r.Status, r.Rules[0].Fired, r.Rules[1].Fired)
	}
	r = f.run(e, t0.Add(10*day), false)
	if r.Fired != 0 || r.Rules[0].Suppressed[evaluate.ReasonCooldown] != 10 || r.Rules[1].Suppressed[evaluate.ReasonOnce] != 20 {
		t.Errorf("within cooldown: fired %d, suppressed %v / %v", r.Fired, r.Rules[0].Suppressed, r.Rules[1].Suppressed)
	}
	// 30 days later the cooldown is over: exactly at the boundary it fires again.
	r = f.run(e, t0.Add(30*day), false)
	if r.Rules[0].Fired != 10 || r.Rules[1].Fired != 0 {
		t.Errorf("after cooldown: recall %d welcome %d", r.Rules[0].Fired, r.Rules[1].Fired)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'recall' AND seq = 2`); n != 10 {
		t.Errorf("second-period fires = %d, want 10", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 20 {
		t.Errorf("coupons = %d, want 20 (one per fire)", n)
	}
	if n := f.count(`SELECT count(DISTINCT hash) FROM fires`); n != 1 {
		t.Errorf("fires record %d playbook hashes, want 1", n)
	}
	got, err := f.db.GetRun(context.Background(), r.ID)
	if err != nil || got.Rules[0].Fired != 10 || got.Rules[1].Suppressed[evaluate.ReasonOnce] != 20 || got.Hash == "" {
		t.Errorf("stored run: %+v, %v", got, err)
	}
}

func TestBlastGuardHoldsTheWholeRun(t *testing.T) {
	f := newFixture(t)
	f.customers(30, 30)
	f.playbook("guarded", `
name: guarded
limits: { max_fires: 29 }
rules:
  - id: r
    when: recency_days > 45
    cooldown: 30d
    actions:
      - coupon: { amount: 20, expires_in: 7d }
`)
	r := f.run(f.engine(), t0, false)
	if r.Status != engine.RunHeld || r.Fired != 0 || r.Rules[0].Suppressed[evaluate.ReasonBlastGuard] != 30 {
		t.Errorf("run %s fired %d suppressed %v; want held with 30 blast_guard", r.Status, r.Fired, r.Rules[0].Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM fires`) + f.count(`SELECT count(*) FROM coupons`); n != 0 {
		t.Errorf("a held run wrote %d fires and coupons", n)
	}
	if n := f.count(`SELECT count(*) FROM runs WHERE status = 'held'`); n != 1 {
		t.Errorf("held runs recorded = %d, want 1", n)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 10)
	f.playbook("recall", recall)
	e := f.engine()
	dry := f.run(e, t0, true)
	for _, table := range []string{"fires", "coupons", "runs", "run_rules"} {
		if n := f.count(`SELECT count(*) FROM ` + table); n != 0 {
			t.Errorf("dry run wrote %d rows to %s", n, table)
		}
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags != '[]'`); n != 0 {
		t.Errorf("dry run tagged %d customers", n)
	}
	real := f.run(e, t0, false)
	if dry.Fired != real.Fired || dry.Matched != real.Matched || dry.Fired != 30 {
		t.Errorf("dry run said %d/%d, the real run did %d/%d", dry.Matched, dry.Fired, real.Matched, real.Fired)
	}
}

func TestHoldoutIsDeterministicAndRecorded(t *testing.T) {
	in := 0
	for i := 0; i < 20000; i++ {
		id := fmt.Sprintf("cust-%d", i)
		a := evaluate.InHoldout("pb", id, 1000)
		if a != evaluate.InHoldout("pb", id, 1000) {
			t.Fatal("holdout assignment changed between calls")
		}
		if a {
			in++
		}
	}
	if in < 1800 || in > 2200 {
		t.Errorf("10%% holdout put %d of 20000 in the control group", in)
	}
	f := newFixture(t)
	f.customers(200, 0)
	f.playbook("held", `
name: held
holdout: 10%
limits: { max_fires: 10000 }
rules:
  - id: r
    when: "true"
    once: true
    actions:
      - tag: { add: [treated] }
`)
	e := f.engine()
	r := f.run(e, t0, false)
	h := r.Rules[0].Suppressed[evaluate.ReasonHoldout]
	if h == 0 || h+r.Fired != 200 {
		t.Fatalf("fired %d holdout %d of 200", r.Fired, h)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE status = 'holdout'`); n != h {
		t.Errorf("holdout fires recorded = %d, want %d", n, h)
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%treated%'`); n != r.Fired {
		t.Errorf("treated customers = %d, want %d (holdout customers get nothing)", n, r.Fired)
	}
	// A restart (a new engine and a new run) sees the same group.
	r2 := f.run(f.engine(), t0.Add(day), false)
	if r2.Rules[0].Suppressed[evaluate.ReasonOnce] != 200 || r2.Fired != 0 {
		t.Errorf("second run: %+v", r2.Rules[0])
	}
}

func TestStopClaimsTheCustomerEvenWhenSuppressed(t *testing.T) {
	f := newFixture(t)
	f.customers(10, 10)
	f.playbook("stop", `
name: stop
limits: { max_fires: 10000 }
rules:
  - id: first
    when: recency_days > 45
    cooldown: 30d
    stop: true
    actions:
      - tag: { add: [first] }
  - id: second
    when: "true"
    cooldown: 1d
    actions:
      - tag: { add: [second] }
`)
	e := f.engine()
	r := f.run(e, t0, false)
	if r.Rules[0].Fired != 10 || r.Rules[1].Matched != 0 {
		t.Errorf("first %d second matched %d, want 10 and 0", r.Rules[0].Fired, r.Rules[1].Matched)
	}
	r = f.run(e, t0.Add(2*day), false)
	if r.Rules[0].Suppressed[evaluate.ReasonCooldown] != 10 || r.Rules[1].Matched != 0 {
		t.Errorf("cooling-down first rule let customers through: %+v %+v", r.Rules[0], r.Rules[1])
	}
}

// failing is a plugin action that fails for one customer.
type failing struct {
	Customer string `yaml:"customer"`
}

func (a *failing) Validate(actions.LoadContext) error { return nil }
func (a *failing) Do(_ context.Context, f *actions.Fire, _ actions.Effects) (actions.Result, error) {
	if f.CustomerID == a.Customer {
		return nil, errors.New("downstream said no")
	}
	return actions.Result{}, nil
}

func TestAFailingActionRollsBackOnlyItsOwnFire(t *testing.T) {
	f := newFixture(t)
	f.reg.Add("failing", func() actions.Action { return &failing{} })
	f.customers(10, 10)
	f.playbook("partial", `
name: partial
limits: { max_fires: 10000 }
rules:
  - id: r
    when: "true"
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 3d }
      - failing: { customer: c004 }
`)
	r := f.run(f.engine(), t0, false)
	if r.Rules[0].Fired != 9 || r.Rules[0].Errors != 1 {
		t.Errorf("fired %d errors %d (%s), want 9 and 1", r.Rules[0].Fired, r.Rules[0].Errors, r.Rules[0].FirstError)
	}
	if n := f.count(`SELECT count(*) FROM coupons WHERE customer_id = 'c004'`) + f.count(`SELECT count(*) FROM fires WHERE customer_id = 'c004'`); n != 0 {
		t.Errorf("the failed fire left %d rows behind", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 9 {
		t.Errorf("coupons = %d, want 9", n)
	}
}

// When another run claimed some fires of a batch after this run read the
// fire history, only the fires that went in have their actions done: the
// run counts the others as suppressed, and every coupon and tag belongs
// to a stored fire.
func TestABatchPartlyClaimedKeepsOnlyTheActionsOfWhatWentIn(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 20)
	const body = `
name: claim
limits: { max_fires: 10000 }
rules:
  - id: r
    when: %s
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 3d }
      - tag: { add: [claimed] }
`
	f.playbook("claim", fmt.Sprintf(body, `"true"`))
	// The other run's playbook is the same rule for three customers of the
	// second batch (c007..c013), which it fires after the first batch is in.
	otherDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(otherDir, "claim.yaml"), []byte(fmt.Sprintf(body, `id in ["c008", "c010", "c013"]`)), 0o644); err != nil {
		t.Fatal(err)
	}
	other := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}})
	if err := other.Load(otherDir); err != nil {
		t.Fatal(err)
	}
	var otherFired int
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7,
		AfterBatch: func(_ string, written int) {
			if written != 7 {
				return
			}
			runs, err := other.Run(context.Background(), engine.RunRequest{At: t0})
			if err != nil {
				t.Error(err)
				return
			}
			otherFired = runs[0].Fired
		}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	r := f.run(e, t0, false)
	if otherFired != 3 {
		t.Fatalf("the other run fired %d, want 3", otherFired)
	}
	if got := r.Rules[0]; got.Fired != 17 || got.Suppressed[evaluate.ReasonOnce] != 3 || got.Errors != 0 {
		t.Errorf("fired %d, suppressed %v, errors %d (%s); want 17 fired and 3 suppressed as once", got.Fired, got.Suppressed, got.Errors, got.FirstError)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != 20 {
		t.Errorf("%d fires stored, want 20", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons c JOIN fires fr ON fr.id = c.fire_id AND fr.customer_id = c.customer_id`); n != 20 {
		t.Errorf("%d coupons belong to a stored fire of their customer, want 20 (%d coupons in all)", n, f.count(`SELECT count(*) FROM coupons`))
	}
	if n := f.count(`SELECT count(DISTINCT customer_id) FROM coupons`); n != 20 {
		t.Errorf("%d customers have a coupon, want 20", n)
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%"claimed"%'`); n != 20 {
		t.Errorf("%d customers tagged, want 20", n)
	}
}

func TestRacingRunsFireOnce(t *testing.T) {
	f := newFixture(t)
	f.customers(100, 100)
	f.playbook("recall", recall)
	var wg sync.WaitGroup
	runs := make([]*engine.Run, 3)
	for i := range runs {
		e := f.engine()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := e.Run(context.Background(), engine.RunRequest{At: t0})
			if err != nil {
				t.Error(err)
				return
			}
			runs[i] = rs[0]
		}()
	}
	wg.Wait()
	total := 0
	for _, r := range runs {
		if r != nil {
			total += r.Fired
		}
	}
	if total != 200 {
		t.Errorf("three racing runs fired %d in total, want 200", total)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 100 {
		t.Errorf("coupons = %d, want 100", n)
	}
}

func TestLaterPlaybooksSeeLocalActions(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 5)
	f.playbook("a-upgrade", `
name: a-upgrade
limits: { max_fires: 10000 }
rules:
  - id: up
    when: tier == "normal"
    once: true
    actions:
      - set_tier: gold
      - tag: { add: [upgraded] }
`)
	f.playbook("b-greet", `
name: b-greet
limits: { max_fires: 10000 }
rules:
  - id: greet
    when: tier == "gold" && has_tag("upgraded") && open_coupons == 0
    once: true
    actions:
      - coupon: { amount: 8, expires_in: 2d }
      - tag: { remove: [upgraded] }
`)
	runs, err := f.engine().Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].Fired != 5 || runs[1].Fired != 5 {
		t.Errorf("upgrade fired %d, greet fired %d; want 5 and 5", runs[0].Fired, runs[1].Fired)
	}
	c, err := f.db.GetCustomer(context.Background(), "c001")
	if err != nil || c.Tier != "gold" || len(c.Tags) != 0 {
		t.Errorf("customer after run: %+v %v", c, err)
	}
}

func TestRegistryRejectsDuplicateKinds(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("adding coupon twice did not panic")
		}
	}()
	builtin.Registry().Add("coupon", func() actions.Action { return &failing{} })
}

// recorder is a plugin action that notes what a fire shows it, by
// customer and position in the rule.
type recorder struct {
	mu   sync.Mutex
	seen map[string]string
}

func (a *recorder) Validate(actions.LoadContext) error { return nil }
func (a *recorder) Do(_ context.Context, f *actions.Fire, _ actions.Effects) (actions.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen[fmt.Sprintf("%s/%d", f.CustomerID, f.Index)] = fmt.Sprintf("id=%v tier=%v orders=%v coupon=%v", f.Profile()["id"], f.Profile()["tier"], f.Profile()["orders"], f.Results["coupon"]["code"] != nil)
	return actions.Result{"noted": true}, nil
}

// An action sees the fire's profile and the results of the actions
// before it in the rule, and nothing of the fire before: the engine reuses
// one actions.Fire for the fires of a batch.
func TestActionsSeeTheProfileAndEarlierResults(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{seen: map[string]string{}}
	f.reg.Add("record", func() actions.Action { return rec })
	f.customers(3, 2)
	f.playbook("look", `
name: look
limits: { max_fires: 10000 }
rules:
  - id: r
    when: orders > 0
    once: true
    actions:
      - record: {}
      - coupon: { amount: 5, expires_in: 3d }
      - record: {}
  - id: s
    when: orders == 0
    once: true
    actions:
      - record: {}
      - record: {}
`)
	if r := f.run(f.engine(), t0, false); r.Fired != 3 {
		t.Fatalf("fired %d, want 3", r.Fired)
	}
	want := map[string]string{
		"c000/0": "id=c000 tier=normal orders=1 coupon=false",
		"c000/2": "id=c000 tier=normal orders=1 coupon=true",
		"c001/0": "id=c001 tier=normal orders=1 coupon=false",
		"c001/2": "id=c001 tier=normal orders=1 coupon=true",
		"c002/0": "id=c002 tier=normal orders=0 coupon=false",
		"c002/1": "id=c002 tier=normal orders=0 coupon=false",
	}
	for k, w := range want {
		if rec.seen[k] != w {
			t.Errorf("%s: action saw %q, want %q", k, rec.seen[k], w)
		}
	}
}

// A batch never splits one customer's fires: they commit together.
func TestBatchesEndBetweenCustomers(t *testing.T) {
	f := newFixture(t)
	f.customers(10, 0)
	f.playbook("pair", `
name: pair
limits: { max_fires: 10000 }
rules:
  - id: one
    when: "true"
    once: true
    actions:
      - tag: { add: [one] }
  - id: two
    when: "true"
    once: true
    actions:
      - tag: { add: [two] }
`)
	var batches []int
	last := 0
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal"}, BatchSize: 3,
		AfterBatch: func(_ string, written int) { batches = append(batches, written-last); last = written }})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	r := f.run(e, t0, false)
	if r.Fired != 20 {
		t.Fatalf("fired %d, want 20", r.Fired)
	}
	for _, n := range batches {
		if n%2 != 0 {
			t.Fatalf("batch sizes %v: a batch split a customer's two fires", batches)
		}
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags = '["one","two"]'`); n != 10 {
		t.Errorf("%d of 10 customers have both tags", n)
	}
}

// A playbook that sets no limits gets the default blast guard: a fifth of
// its audience, and never less than 100. A run that would fire a quarter
// of 1,000 customers is held; a fifth or less fires.
func TestDefaultBlastGuard(t *testing.T) {
	f := newFixture(t)
	f.customers(1000, 0)
	f.playbook("quarter", `
name: quarter
rules:
  - id: r
    when: id < "c250"
    once: true
    actions: [{ tag: { add: [q] } }]
`)
	f.playbook("fifth", `
name: fifth
rules:
  - id: r
    when: id < "c200"
    once: true
    actions: [{ tag: { add: [f] } }]
`)
	e := f.engine()
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*engine.Run{}
	for _, r := range runs {
		byName[r.Playbook] = r
	}
	if r := byName["quarter"]; r.Status != engine.RunHeld || r.Limit != 200 || r.Rules[0].Suppressed[evaluate.ReasonBlastGuard] != 250 || r.Fired != 0 {
		t.Errorf("quarter: %s, limit %d, fired %d, %v; want held at 200", r.Status, r.Limit, r.Fired, r.Rules[0].Suppressed)
	}
	if r := byName["fifth"]; r.Status != engine.RunDone || r.Fired != 200 {
		t.Errorf("fifth: %s, fired %d; want done, 200", r.Status, r.Fired)
	}
	// A small pond: the floor of 100 lets a run over all 60 fire.
	g := newFixture(t)
	g.customers(60, 0)
	g.playbook("all", `
name: all
rules:
  - id: r
    when: "true"
    once: true
    actions: [{ tag: { add: [a] } }]
`)
	if r := g.run(g.engine(), t0, false); r.Status != engine.RunDone || r.Fired != 60 || r.Limit != 100 {
		t.Errorf("small pond: %s, fired %d, limit %d; want done, 60, 100", r.Status, r.Fired, r.Limit)
	}
}

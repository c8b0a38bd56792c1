package sqlite_test

import (
	"context"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

var shanghai = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// policyEngine is the fixture's engine with a contact policy from koi.yaml
// text, the channels log and hook, and Shanghai as the brand's timezone.
func (f *fixture) policyEngine(policy string) *engine.Engine {
	f.t.Helper()
	var py rules.PolicyYAML
	if err := yaml.Unmarshal([]byte(policy), &py); err != nil {
		f.t.Fatal(err)
	}
	pol, errs := py.Compile("koi.yaml", []string{"log", "hook"})
	if len(errs) > 0 {
		f.t.Fatal(errs)
	}
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7,
		Channels: []string{"log", "hook"}, Policy: pol, UnsubscribeEvent: "unsubscribe",
		Profile: profile.ProfileConfig{Location: shanghai}})
	if err := e.Load(f.dir); err != nil {
		f.t.Fatal(err)
	}
	return e
}

// jobDue returns when each of a customer's pending jobs of a rule is due.
func (f *fixture) jobsDue(rule, customer string) []time.Time {
	f.t.Helper()
	rows, err := f.db.SQL().Query(`SELECT run_at FROM jobs WHERE rule = ? AND customer_id = ? ORDER BY id`, rule, customer)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, time.UnixMilli(ms))
	}
	return out
}

const nudge = `
name: nudge
limits: { max_fires: 1000 }
rules:
  - id: daily
    when: member
    cooldown: 1d
    actions:
      - message: { channel: log, template: "hi {{.name}}" }
`

// The Nth message in the period goes, the N+1th is capped, and a message
// may go again once the oldest leaves the rolling window.
func TestFrequencyCapBoundaries(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("nudge", nudge)
	e := f.policyEngine(`cap: { messages: 2, per: 7d }`)
	for d, want := range []struct{ fired, capped int }{{3, 0}, {3, 0}, {0, 3}, {0, 3}} {
		r := f.run(e, t0.Add(time.Duration(d)*day), false)
		if r.Rules[0].Fired != want.fired || r.Rules[0].Suppressed[policy.ReasonCap] != want.capped {
			t.Errorf("day %d: fired %d, capped %d; want %d, %d", d, r.Rules[0].Fired, r.Rules[0].Suppressed[policy.ReasonCap], want.fired, want.capped)
		}
	}
	// Day 7: the day-0 message is exactly 7 days old, out of (now-7d, now].
	if r := f.run(e, t0.Add(7*day), false); r.Rules[0].Fired != 3 {
		t.Errorf("day 7: fired %d, want 3: the window rolled past the first message", r.Rules[0].Fired)
	}
	// Day 8: the day-1 message leaves the window too; day 9 has the
	// day-7 and day-8 messages in it: capped.
	if r := f.run(e, t0.Add(8*day), false); r.Rules[0].Fired != 3 {
		t.Errorf("day 8: fired %d, want 3", r.Rules[0].Fired)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE customer_id = 'c000'`); n != 4 {
		t.Errorf("contact history holds %d messages for c000, want 4", n)
	}
	// A restarted engine reads the history from the database.
	e2 := f.policyEngine(`cap: { messages: 2, per: 7d }`)
	if r := f.run(e2, t0.Add(9*day), false); r.Rules[0].Suppressed[policy.ReasonCap] != 3 {
		t.Errorf("day 9 after a restart: %v, want 3 capped", r.Rules[0].Suppressed)
	}
	p, err := e2.Profile(context.Background(), "c000", t0.Add(9*day))
	if err != nil || p.Contacts7d != 2 || p.LastContactDays == nil || *p.LastContactDays != 1 {
		t.Errorf("profile contacts_7d = %d, last_contact_days = %v (%v); want 2 and 1", p.Contacts7d, p.LastContactDays, err)
	}
}

// A per-channel cap counts that channel only.
func TestChannelCap(t *testing.T) {
	f := newFixture(t)
	f.customers(1, 0)
	f.playbook("two", `
name: two
limits: { max_fires: 1000 }
rules:
  - id: on-log
    when: member
    cooldown: 1d
    actions: [ { message: { channel: log, template: "a" } } ]
  - id: on-hook
    when: member
    cooldown: 1d
    actions: [ { message: { channel: hook, template: "b" } } ]
`)
	e := f.policyEngine(`channels: { hook: { messages: 1, per: 3d } }`)
	f.run(e, t0, false)
	r := f.run(e, t0.Add(day), false)
	if r.Rules[0].Fired != 1 || r.Rules[1].Suppressed[policy.ReasonCap] != 1 {
		t.Errorf("day 1: log fired %d, hook %v; want log 1, hook capped", r.Rules[0].Fired, r.Rules[1].Suppressed)
	}
}

// When the cap allows only some of a customer's messages in one run, the
// higher priority goes; a defer_on_cap rule waits for room instead.
func TestPriorityAndDeferOnCap(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("prio", `
name: prio
limits: { max_fires: 1000 }
rules:
  - id: low
    when: member
    cooldown: 30d
    actions: [ { message: { channel: log, template: "low" } } ]
  - id: high
    when: member
    cooldown: 30d
    priority: 10
    actions: [ { message: { channel: log, template: "high" } } ]
  - id: later
    when: member
    cooldown: 30d
    priority: 5
    defer_on_cap: true
    actions:
      - coupon: { amount: 5, expires_in: 30d }
      - message: { channel: log, template: "later" }
`)
	e := f.policyEngine(`cap: { messages: 1, per: 2d }`)
	r := f.run(e, t0, false)
	low, high, later := r.Rules[0], r.Rules[1], r.Rules[2]
	if high.Fired != 2 || low.Suppressed[policy.ReasonCap] != 2 || low.Fired != 0 {
		t.Errorf("high fired %d, low %d fired and %v; want high to win both customers", high.Fired, low.Fired, low.Suppressed)
	}
	if later.Fired != 2 || later.Deferred[policy.ReasonCap] != 2 {
		t.Errorf("later: fired %d, deferred %v; want 2 fired and deferred by the cap", later.Fired, later.Deferred)
	}
	// The deferred message is due when high's leaves the 2-day window;
	// its coupon, a local action, is written now.
	if due := f.jobsDue("later", "c000"); len(due) != 1 || !due[0].Equal(t0.Add(2*day)) {
		t.Errorf("deferred message due %v, want %v", due, t0.Add(2*day))
	}
	if n := f.count(`SELECT count(*) FROM coupons WHERE issued_at = ?`, t0.UnixMilli()); n != 2 {
		t.Errorf("%d coupons issued at the run, want 2: local actions are not delayed", n)
	}
	// The next day nothing fits: the deferred message holds the slot.
	if r := f.run(e, t0.Add(day), false); r.Fired != 0 {
		t.Errorf("day 1 fired %d", r.Fired)
	}
}

const evening = `
name: evening
limits: { max_fires: 1000 }
rules:
  - id: note
    when: member
    cooldown: 1d
    actions:
      - tag: { add: [noted] }
      - message: { channel: log, template: "note" }
`

// A message due in quiet hours waits for their end, in the brand's
// timezone, or the customer's own when known; local actions happen now.
func TestQuietHours(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cs := []domain.Customer{
		{ID: "sh", Member: true, JoinedAt: t0.Add(-day)},
		{ID: "ldn", Member: true, JoinedAt: t0.Add(-day), Attrs: map[string]any{"timezone": "Europe/London"}},
		{ID: "ny", Member: true, JoinedAt: t0.Add(-day), Attrs: map[string]any{"timezone": "America/New_York"}},
	}
	if err := f.db.UpsertCustomers(ctx, cs, t0); err != nil {
		t.Fatal(err)
	}
	f.playbook("evening", evening)
	e := f.policyEngine(`quiet_hours: { from: "21:30", to: "09:00" }`)
	// 23:00 in Shanghai on 1 March is 15:00 in London and 10:00 in New York.
	at := time.Date(2026, 3, 1, 23, 0, 0, 0, shanghai)
	r := f.run(e, at, false)
	if r.Rules[0].Fired != 3 || r.Rules[0].Deferred[policy.ReasonQuietHours] != 1 {
		t.Errorf("fired %d, deferred %v; want 3 fired, 1 deferred", r.Rules[0].Fired, r.Rules[0].Deferred)
	}
	if due := f.jobsDue("note", "sh"); len(due) != 1 || !due[0].Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)) {
		t.Errorf("Shanghai customer's message due %v, want 09:00 the next morning (across midnight)", due)
	}
	for _, id := range []string{"ldn", "ny"} {
		if due := f.jobsDue("note", id); len(due) != 1 || due[0].After(at) {
			t.Errorf("%s: message due %v; want at once: it is daytime there", id, due)
		}
	}
	if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%noted%'`); n != 3 {
		t.Errorf("%d customers tagged; want 3: quiet hours hold messages only", n)
	}
	// 02:30 the next day in Shanghai is 21:30 in New York (EST, UTC-5):
	// the New Yorker's quiet hours just began; they end at 09:00 there.
	at = time.Date(2026, 3, 3, 10, 30, 0, 0, shanghai)
	f.run(e, at, false)
	want := time.Date(2026, 3, 3, 9, 0, 0, 0, mustLoad("America/New_York"))
	if due := f.jobsDue("note", "ny"); len(due) != 2 || !due[1].Equal(want) {
		t.Errorf("New York customer's second message due %v, want %v", due, want)
	}
}

// Opt-out is absolute: through the API call, through an unsubscribe
// event, and an upsert without it does not undo it.
func TestConsent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(4, 0)
	f.playbook("two", `
name: two
limits: { max_fires: 1000 }
rules:
  - id: on-hook
    when: member
    cooldown: 1d
    actions: [ { coupon: { amount: 5, expires_in: 7d } }, { message: { channel: hook, template: "b" } } ]
  - id: on-log
    when: member
    cooldown: 1d
    actions: [ { message: { channel: log, template: "a" } } ]
`)
	e := f.policyEngine(``)
	if _, err := e.SetOptOut(ctx, "c000", "hook", true); err != nil {
		t.Fatal(err)
	}
	res, err := e.AddEvents(ctx, []domain.Event{
		{ID: "u1", CustomerID: "c001", Type: "unsubscribe", At: t0.Add(-time.Hour), Attrs: map[string]any{"channel": "hook"}},
		{ID: "u2", CustomerID: "c002", Type: "unsubscribe", At: t0.Add(-time.Hour)}, // every channel
	})
	if err != nil || len(res.ItemErrs) > 0 {
		t.Fatal(err, res.ItemErrs)
	}
	// A CRM re-import without opt_out must not opt anyone back in.
	if err := e.PutCustomers(ctx, []domain.Customer{{ID: "c000", Member: true, JoinedAt: t0.Add(-400 * day)}}, t0); err != nil {
		t.Fatal(err)
	}
	r := f.run(e, t0, false)
	if r.Rules[0].Fired != 1 || r.Rules[0].Suppressed[policy.ReasonConsent] != 3 {
		t.Errorf("hook rule: fired %d, %v; want 1 fired, 3 consent", r.Rules[0].Fired, r.Rules[0].Suppressed)
	}
	if r.Rules[1].Fired != 3 || r.Rules[1].Suppressed[policy.ReasonConsent] != 1 {
		t.Errorf("log rule: fired %d, %v; want 3 fired, 1 consent (c002 left every channel)", r.Rules[1].Fired, r.Rules[1].Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 1 {
		t.Errorf("%d coupons: a fire stopped by consent must do nothing", n)
	}
	// The store agrees after a restart, and opting back in is explicit.
	e2 := f.policyEngine(``)
	if _, err := e2.SetOptOut(ctx, "c000", "hook", false); err != nil {
		t.Fatal(err)
	}
	r = f.run(e2, t0.Add(day), false)
	if r.Rules[0].Fired != 2 || r.Rules[0].Suppressed[policy.ReasonConsent] != 2 {
		t.Errorf("after c000 opted back in: fired %d, %v", r.Rules[0].Fired, r.Rules[0].Suppressed)
	}
}

// Holdout and variant assignment depend on names only: the same customer
// lands in the same bucket across runs, engines and a reopened database.
func TestHoldoutAndVariantsAreSticky(t *testing.T) {
	f := newFixture(t)
	f.customers(400, 0)
	f.playbook("ab", `
name: ab
holdout: 20%
limits: { max_fires: 1000 }
rules:
  - id: offer
    when: member
    cooldown: 10d
    variants:
      - { id: small, weight: 3, actions: [ { coupon: { amount: 5, expires_in: 7d } } ] }
      - { id: big, weight: 1, actions: [ { coupon: { amount: 20, expires_in: 7d } } ] }
`)
	bucket := func() map[string]string {
		rows, err := f.db.SQL().Query(`SELECT customer_id, status, variant, seq FROM fires ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var id, status, variant string
			var seq int
			if err := rows.Scan(&id, &status, &variant, &seq); err != nil {
				t.Fatal(err)
			}
			b := status + "/" + variant
			if prev, ok := out[id]; ok && prev != b {
				t.Errorf("customer %s moved from %s to %s in period %d", id, prev, b, seq)
			}
			out[id] = b
		}
		return out
	}
	f.run(f.engine(), t0, false)
	first := bucket()
	// Reopen the database and run again after the cooldown.
	path := f.db.Path()
	f.db.Close()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	f.run(f.engine(), t0.Add(10*day), false)
	second := bucket()
	counts := map[string]int{}
	for id, b := range first {
		if second[id] != b {
			t.Errorf("%s: %s then %s", id, b, second[id])
		}
		counts[b]++
	}
	// 400 customers: 20% holdout, and 3:1 among the rest, give or take.
	if h := counts["holdout/"]; h < 55 || h > 105 {
		t.Errorf("holdout %d of 400, want about 80", h)
	}
	if s, b := counts["fired/small"], counts["fired/big"]; s < 3*b-90 || s > 3*b+90 || s+b+counts["holdout/"] != 400 {
		t.Errorf("variants small %d, big %d; want about 3:1", s, b)
	}
	if n := f.count(`SELECT count(*) FROM coupons c JOIN fires f ON f.id = c.fire_id WHERE f.variant = 'big' AND c.amount_fen = 2000`); n != 2*counts["fired/big"] {
		t.Errorf("%d big coupons for %d big fires over two periods", n, counts["fired/big"])
	}
	for _, id := range []string{"c000", "c001", "c002"} {
		r := &rules.Rule{ID: "offer", Variants: []*rules.Variant{{ID: "small", Weight: 3}, {ID: "big", Weight: 1}}}
		want := map[int]string{0: "small", 1: "big"}[evaluate.VariantOf("ab", r, id)]
		if got := first[id]; got != "fired/"+want && got != "holdout/" {
			t.Errorf("%s: stored %s, VariantOf says %s", id, got, want)
		}
	}
}

// Within one run of several playbooks, the one with the higher priority
// takes the cap first, whatever the names' order.
func TestPriorityAcrossPlaybooks(t *testing.T) {
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("aaa", `
name: aaa
limits: { max_fires: 1000 }
rules:
  - id: plain
    when: member
    cooldown: 30d
    actions: [ { message: { channel: log, template: "a" } } ]
`)
	f.playbook("zzz", `
name: zzz
limits: { max_fires: 1000 }
rules:
  - id: urgent
    when: member
    cooldown: 30d
    priority: 5
    actions: [ { message: { channel: log, template: "z" } } ]
`)
	e := f.policyEngine(`cap: { messages: 1, per: 7d }`)
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*engine.Run{}
	for _, r := range runs {
		got[r.Playbook] = r
	}
	if got["zzz"].Fired != 2 || got["aaa"].Rules[0].Suppressed[policy.ReasonCap] != 2 || runs[0].Playbook != "zzz" {
		t.Errorf("zzz fired %d, aaa capped %v, first %s; want the priority-5 playbook first", got["zzz"].Fired, got["aaa"].Rules[0].Suppressed, runs[0].Playbook)
	}
}

// Coupons past their expiry are marked expired by the sweep; a
// redemption records the order that used the coupon.
func TestCouponLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(2, 0)
	f.playbook("gift", `
name: gift
limits: { max_fires: 1000 }
rules:
  - id: gift
    when: member
    once: true
    actions: [ { coupon: { amount: 5, expires_in: 7d } } ]
`)
	e := f.engine()
	f.run(e, t0, false)
	var code string
	if err := f.db.SQL().QueryRow(`SELECT code FROM coupons WHERE customer_id = 'c000'`).Scan(&code); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "o1", CustomerID: "c000", Type: "order", At: t0.Add(day), AmountFen: 9900}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RedeemCoupon(ctx, code, "o1", t0.Add(day)); err != nil {
		t.Fatal(err)
	}
	if err := e.Sweep(ctx, t0.Add(6*day)); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM coupons WHERE status = 'open'`); n != 2-1 {
		t.Errorf("%d open coupons on day 6, want 1", n)
	}
	if err := e.Sweep(ctx, t0.Add(7*day)); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM coupons WHERE status = 'expired' AND customer_id = 'c001'`); n != 1 {
		t.Errorf("c001's coupon not expired on day 7")
	}
	cs, err := e.ListCoupons(ctx, domain.CouponFilter{CustomerID: "c000"}, t0.Add(8*day))
	if err != nil || len(cs) != 1 || cs[0].Status != domain.CouponRedeemed || cs[0].OrderID != "o1" || cs[0].RedeemedAt == nil {
		t.Errorf("c000's coupon: %+v %v; want redeemed by o1", cs, err)
	}
}

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
	"github.com/koihq/koi/engine/policy"
)

// Benefit groups: rules naming one group, in one playbook or
// several, share cooldown and once.

const memberDay = `
name: a-day
limits: { max_fires: 100% }
rules:
  - id: day-gold
    group: voucher
    when: tier == "gold"
    cooldown: 25d
    stop: true
    actions: [{ coupon: { amount: 50, expires_in: 3d } }]
  - id: day-normal
    group: voucher
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 10, expires_in: 3d } }]
`

// b-upgrade moves everyone up after member day has run: the trap of the
// demo pond, where a second run the same day found gold customers whose
// gold rule had never fired.
const upgrade = `
name: b-upgrade
limits: { max_fires: 100% }
rules:
  - id: up
    when: tier == "normal"
    once: true
    actions: [{ set_tier: gold }]
`

// c-welcome is another playbook's rule in the same group, with a shorter
// cooldown of its own.
const welcome = `
name: c-welcome
limits: { max_fires: 100% }
rules:
  - id: welcome
    group: voucher
    when: "true"
    cooldown: 10d
    actions: [{ coupon: { amount: 5, expires_in: 3d } }]
`

func TestBenefitGroupSharesCooldownAcrossRulesAndPlaybooks(t *testing.T) {
	f := newFixture(t)
	f.customers(10, 0)
	f.playbook("a-day", memberDay)
	f.playbook("b-upgrade", upgrade)
	f.playbook("c-welcome", welcome)
	e := f.engine()
	ctx := context.Background()
	run := func(at time.Time, playbooks ...string) map[string]*engine.Run {
		t.Helper()
		runs, err := e.Run(ctx, engine.RunRequest{At: at, Playbooks: playbooks})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*engine.Run{}
		for _, r := range runs {
			out[r.Playbook] = r
		}
		return out
	}
	rs := run(t0)
	if rs["a-day"].Rules[1].Fired != 10 || rs["b-upgrade"].Fired != 10 {
		t.Fatalf("first run: a-day %+v, b-upgrade fired %d", rs["a-day"].Rules[1], rs["b-upgrade"].Fired)
	}
	// The other playbook's rule of the group: suppressed, and the run says
	// by which rule.
	if c := rs["c-welcome"].Rules[0]; c.Fired != 0 || c.Suppressed[evaluate.ReasonCooldown] != 10 || c.ByGroup["a-day/day-normal"] != 10 {
		t.Errorf("c-welcome in the first run: %+v", c)
	}
	// Everyone is gold now. The same moment again: the gold rule never
	// fired for them, but its group did.
	rs = run(t0)
	for name, r := range rs {
		if r.Fired != 0 {
			t.Errorf("second run at the same moment: %s fired %d, want 0 (%+v)", name, r.Fired, r.Rules)
		}
	}
	if c := rs["a-day"].Rules[0]; c.Matched != 10 || c.Suppressed[evaluate.ReasonCooldown] != 10 || c.ByGroup["a-day/day-normal"] != 10 {
		t.Errorf("day-gold in the second run: %+v", c)
	}
	stored, err := e.GetRun(ctx, rs["a-day"].ID)
	if err != nil || stored.Rules[0].ByGroup["a-day/day-normal"] != 10 {
		t.Errorf("stored run counts: %+v %v", stored.Rules, err)
	}
	// Each rule applies its own cooldown to the group's latest fire:
	// welcome's 10 days are over after 11, day-gold's 25 are not.
	rs = run(t0.Add(11 * day))
	if rs["a-day"].Fired != 0 || rs["c-welcome"].Fired != 10 {
		t.Errorf("after 11 days: a-day fired %d, c-welcome %d; want 0 and 10", rs["a-day"].Fired, rs["c-welcome"].Fired)
	}
	// 26 days after member day, but 15 after welcome: still cooling down.
	rs = run(t0.Add(26*day), "a-day")
	if c := rs["a-day"].Rules[0]; c.Fired != 0 || c.ByGroup["c-welcome/welcome"] != 10 {
		t.Errorf("after 26 days: day-gold %+v, want suppressed by c-welcome/welcome", c)
	}
	rs = run(t0.Add(37*day), "a-day")
	if rs["a-day"].Rules[0].Fired != 10 {
		t.Errorf("after 37 days: day-gold fired %d, want 10", rs["a-day"].Rules[0].Fired)
	}
	// Group numbers count per customer across the group's rules.
	if n := f.count(`SELECT count(*) FROM fires WHERE grp = 'voucher' AND customer_id = 'c003'`); n != 3 {
		t.Errorf("c003 has %d fires in the group, want 3", n)
	}
	if n := f.count(`SELECT max(gseq) FROM fires WHERE grp = 'voucher' AND customer_id = 'c003'`); n != 3 {
		t.Errorf("c003's latest group number = %d, want 3", n)
	}
	fires, err := e.ListFires(ctx, domain.FireFilter{CustomerID: "c003", Limit: 10})
	if err != nil || len(fires) != 4 || fires[0].Group != "voucher" || fires[0].GroupSeq != 3 {
		t.Errorf("c003's fires: %+v %v", fires, err)
	}
	// Explain names the group's latest fire and the rule that made it.
	x, err := e.Explain(ctx, engine.ExplainRequest{Playbook: "c-welcome", Rule: "welcome", CustomerID: "c003", At: t0.Add(40 * day)})
	if err != nil {
		t.Fatal(err)
	}
	if x.Verdict != evaluate.VerdictSuppressed || x.Reason != evaluate.ReasonCooldown || x.By != "a-day/day-gold" ||
		x.State.Group != "voucher" || x.State.GroupFire == nil || x.State.GroupFire.By != "a-day/day-gold" || x.State.CooldownUntil == nil {
		t.Errorf("explain: verdict %s reason %s by %q, state %+v", x.Verdict, x.Reason, x.By, x.State)
	}
}

// A dry run writes nothing, yet its later playbooks must see the group's
// fires of the earlier ones, or it would promise fires a real run does
// not make.
func TestDryRunSeesEarlierPlaybooksGroupFires(t *testing.T) {
	f := newFixture(t)
	f.customers(10, 0)
	f.playbook("a-day", memberDay)
	f.playbook("c-welcome", welcome)
	e := f.engine()
	dry, err := e.Run(context.Background(), engine.RunRequest{At: t0, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	real, err := e.Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	for i := range dry {
		if dry[i].Fired != real[i].Fired {
			t.Errorf("%s: dry run would fire %d, the run fired %d", dry[i].Playbook, dry[i].Fired, real[i].Fired)
		}
	}
	if real[1].Fired != 0 {
		t.Errorf("c-welcome fired %d beside member day", real[1].Fired)
	}
}

// Rules of one group in one playbook: the first that matches claims the
// customer for the group in that run, even without stop.
func TestOneGroupFirePerCustomerInARun(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	f.playbook("two", `
name: two
limits: { max_fires: 100% }
rules:
  - id: first
    group: g
    when: "true"
    cooldown: 7d
    actions: [{ tag: { add: [first] } }]
  - id: second
    group: g
    when: "true"
    once: true
    actions: [{ tag: { add: [second] } }]
`)
	r := f.run(f.engine(), t0, false)
	if r.Rules[0].Fired != 4 || r.Rules[1].Fired != 0 || r.Rules[1].Suppressed[evaluate.ReasonOnce] != 4 || r.Rules[1].ByGroup["two/first"] != 4 {
		t.Errorf("rules: %+v %+v", r.Rules[0], r.Rules[1])
	}
}

// The group's unique key stops what the marks cannot: a held run computed
// before another rule of the group fired, approved after.
func TestApprovalCollidesWithAGroupFireMadeMeanwhile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(6, 0)
	f.playbook("held", `
name: held
limits: { max_fires: 2 }
rules:
  - id: big
    group: g
    when: "true"
    cooldown: 30d
    actions: [{ coupon: { amount: 100, expires_in: 3d } }]
`)
	e := f.engine()
	r := f.run(e, t0, false)
	if r.Status != engine.RunHeld {
		t.Fatalf("run %s, want held", r.Status)
	}
	f.playbook("small", `
name: small
limits: { max_fires: 100% }
rules:
  - id: small
    group: g
    when: id in ["c000", "c001"]
    cooldown: 30d
    actions: [{ coupon: { amount: 5, expires_in: 3d } }]
`)
	other := f.engine()
	if rs, err := other.Run(ctx, engine.RunRequest{Playbooks: []string{"small"}, At: t0}); err != nil || rs[0].Fired != 2 {
		t.Fatalf("small: %+v %v", rs, err)
	}
	approved, err := e.Approve(ctx, r.ID, "alice", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if approved.Fired != 4 || approved.Rules[0].Suppressed[evaluate.ReasonCooldown] != 2 {
		t.Errorf("approved run fired %d, suppressed %v; want 4, and 2 by cooldown", approved.Fired, approved.Rules[0].Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE grp = 'g' GROUP BY customer_id ORDER BY 1 DESC LIMIT 1`); n != 1 {
		t.Errorf("a customer has %d fires of the group, want 1", n)
	}
}

// Two processes running two rules of one group at once: whatever the
// interleaving, each customer gets one fire of the group.
func TestRacingRulesOfOneGroupFireOnce(t *testing.T) {
	f := newFixture(t)
	f.customers(200, 0)
	for _, name := range []string{"x", "y"} {
		f.playbook(name, `
name: `+name+`
limits: { max_fires: 100% }
rules:
  - id: r
    group: g
    when: "true"
    once: true
    actions: [{ coupon: { amount: 5, expires_in: 3d } }]
`)
	}
	var wg sync.WaitGroup
	for _, name := range []string{"x", "y", "x", "y"} {
		e := f.engine()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Run(context.Background(), engine.RunRequest{Playbooks: []string{name}, At: t0}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.count(`SELECT count(*) FROM fires WHERE grp = 'g'`); n != 200 {
		t.Errorf("%d fires of the group for 200 customers", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 200 {
		t.Errorf("%d coupons for 200 customers", n)
	}
}

// onOrderThanks is a playbook thanking for every order, in group g.
func onOrderThanks(cooldown string) string {
	return `
name: on-order
limits: { max_fires: 100% }
rules:
  - id: thanks
    on: order
    group: g
    when: "true"
    cooldown: ` + cooldown + `
    actions: [{ coupon: { amount: 10, expires_in: 7d } }]
`
}

// order stores an order of c at at through the engine.
func order(t *testing.T, e *engine.Engine, id, c string, at time.Time) {
	t.Helper()
	if res, err := e.AddEvents(context.Background(), []domain.Event{{ID: id, CustomerID: c, Type: "order", At: at, AmountFen: 100}}); err != nil || len(res.ItemErrs) > 0 {
		t.Fatal(err, res.ItemErrs)
	}
}

// An event-triggered rule of a group and a scheduled one share it too.
func TestEventTriggeredRuleSharesItsGroup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(2, 0)
	f.playbook("on-order", onOrderThanks("30d"))
	f.playbook("scheduled", `
name: scheduled
limits: { max_fires: 100% }
rules:
  - id: gift
    group: g
    when: "true"
    cooldown: 30d
    actions: [{ coupon: { amount: 20, expires_in: 7d } }]
`)
	e := f.engine()
	now := t0
	opts := engine.TriggerOptions{Now: func() time.Time { return now }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	order(t, e, "o1", "c000", now)
	if runs, err := e.ProcessTriggers(ctx, opts); err != nil || len(runs) != 1 || runs[0].Fired != 1 {
		t.Fatalf("triggers: %+v %v", runs, err)
	}
	rs, err := e.Run(ctx, engine.RunRequest{Playbooks: []string{"scheduled"}, At: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if c := rs[0].Rules[0]; c.Fired != 1 || c.ByGroup["on-order/thanks"] != 1 {
		t.Errorf("scheduled gift: %+v; want c001 only, c000 suppressed by on-order/thanks", c)
	}
	// And the other way round: c001's gift holds back its thanks.
	now = now.Add(2 * time.Hour)
	order(t, e, "o2", "c001", now)
	runs, err := e.ProcessTriggers(ctx, opts)
	if err != nil || len(runs) != 1 || runs[0].Fired != 0 || runs[0].Rules[0].ByGroup["scheduled/gift"] != 1 {
		t.Fatalf("thanks after the gift: %+v %v", runs, err)
	}
}

// A customer held out by one playbook's rule of a group is not treated by
// another playbook's rule of it in the same period: that would spoil the
// control group the first playbook measures against.
func TestAGroupHoldoutHoldsForTheGroup(t *testing.T) {
	f := newFixture(t)
	f.customers(40, 0)
	f.playbook("a-held", `
name: a-held
holdout: 50%
limits: { max_fires: 100% }
rules:
  - id: measured
    group: g
    when: "true"
    cooldown: 30d
    actions: [{ coupon: { amount: 10, expires_in: 3d } }]
`)
	f.playbook("b-other", `
name: b-other
limits: { max_fires: 100% }
rules:
  - id: other
    group: g
    when: "true"
    cooldown: 30d
    actions: [{ coupon: { amount: 10, expires_in: 3d } }]
`)
	runs, err := f.engine().Run(context.Background(), engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	held := runs[0].Rules[0].Suppressed[evaluate.ReasonHoldout]
	if held == 0 || held == 40 || runs[1].Fired != 0 || runs[1].Rules[0].ByGroup["a-held/measured"] != 40 {
		t.Errorf("a-held %+v, b-other %+v", runs[0].Rules[0], runs[1].Rules[0])
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 40-held {
		t.Errorf("%d coupons, want %d: none for the held-out customers", n, 40-held)
	}
}

// An event-triggered rule of a group fires again for a customer once its
// cooldown is over: its group number moves on like a scheduled rule's.
func TestEventTriggeredGroupRuleFiresAgainAfterItsCooldown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(1, 0)
	f.playbook("on-order", onOrderThanks("1d"))
	e := f.engine()
	now := t0
	opts := engine.TriggerOptions{Now: func() time.Time { return now }}
	if _, err := e.ProcessTriggers(ctx, opts); err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		now = t0.Add(time.Duration(k) * 3 * day)
		order(t, e, fmt.Sprintf("o%d", k), "c000", now)
		runs, err := e.ProcessTriggers(ctx, opts)
		if err != nil || len(runs) != 1 || runs[0].Fired != 1 {
			t.Fatalf("order %d, three days after the last: %+v %v", k+1, runs, err)
		}
	}
	if n := f.count(`SELECT max(gseq) FROM fires WHERE grp = 'g'`); n != 3 {
		t.Errorf("group numbers went up to %d, want 3", n)
	}
}

// When the contact policy caps the rule of a group that matched first,
// the next rule of the group that matched stands in for it: the customer
// still gets one benefit of the group, not none.
func TestACappedGroupRuleHandsTheBenefitOn(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("vouchers", `
name: vouchers
limits: { max_fires: 100 }
rules:
  - id: ping
    when: "true"
    once: true
    priority: 10
    actions: [{ message: { channel: log, template: "hi" } }]
  - id: msg-voucher
    group: v
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 50, expires_in: 3d } }, { message: { channel: log, template: "a voucher" } }]
  - id: plain-voucher
    group: v
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 30, expires_in: 3d } }]
  - id: late-voucher
    group: v
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 10, expires_in: 3d } }]
`)
	e := f.policyEngine("cap: { messages: 1, per: 7d }")
	r := f.run(e, t0, false)
	got := map[string]evaluate.RuleCounts{}
	for _, c := range r.Rules {
		got[c.Rule] = *c
	}
	if c := got["msg-voucher"]; c.Fired != 0 || c.Suppressed[policy.ReasonCap] != 3 {
		t.Errorf("msg-voucher: %+v, want capped for all 3", c)
	}
	if c := got["plain-voucher"]; c.Fired != 3 {
		t.Errorf("plain-voucher: %+v, want it to stand in for all 3", c)
	}
	if c := got["late-voucher"]; c.Fired != 0 || c.Suppressed[evaluate.ReasonCooldown] != 3 || c.ByGroup["vouchers/plain-voucher"] != 3 {
		t.Errorf("late-voucher: %+v, want suppressed by vouchers/plain-voucher", c)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 3 {
		t.Errorf("%d coupons for 3 customers, want one each", n)
	}
}

// A rule's fires from before it joined a group count for the group: a
// pond that ran member day before the vouchers shared a group must not
// hand out a second voucher when they start to.
func TestFiresBeforeARuleJoinedItsGroupCount(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	f.playbook("a-day", `
name: a-day
limits: { max_fires: 100% }
rules:
  - id: day
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 50, expires_in: 3d } }]
`)
	f.run(f.engine(), t0, false)
	// Now the rule joins a group, with another playbook's rule.
	f.playbook("a-day", `
name: a-day
limits: { max_fires: 100% }
rules:
  - id: day
    group: voucher
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 50, expires_in: 3d } }]
`)
	f.playbook("b-bonus", `
name: b-bonus
limits: { max_fires: 100% }
rules:
  - id: bonus
    group: voucher
    when: "true"
    cooldown: 25d
    actions: [{ coupon: { amount: 20, expires_in: 3d } }]
`)
	e := f.engine()
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0.Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Fired != 0 {
			t.Errorf("%s fired %d a day after the ungrouped voucher: %+v", r.Playbook, r.Fired, r.Rules[0])
		}
	}
	if c := runs[1].Rules[0]; c.ByGroup["a-day/day"] != 4 {
		t.Errorf("b-bonus: %+v, want suppressed by a-day/day", c)
	}
	// The same through the event path's per-customer reads.
	x, err := e.Explain(context.Background(), engine.ExplainRequest{Playbook: "b-bonus", Rule: "bonus", CustomerID: "c001", At: t0.Add(day)})
	if err != nil || x.Verdict != evaluate.VerdictSuppressed || x.By != "a-day/day" {
		t.Errorf("explain: %+v %v", x, err)
	}
}

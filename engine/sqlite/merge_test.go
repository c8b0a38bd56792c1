package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/policy"
)

const lifecycle = `
name: life
limits: { max_fires: 1000 }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ tag: { add: [welcomed] } }]
  - id: voucher
    group: monthly
    when: "true"
    cooldown: 30d
    actions: [{ coupon: { amount: 10, expires_in: 7d } }]
  - id: nudge
    when: member
    cooldown: 1d
    actions: [{ message: { channel: log, template: "hi" } }]
`

// DESIGN §11's merge, end to end: a shop customer with history, a CRM
// customer imported later keyed by a phone, then a mini-program record
// naming the shop's unionid and the CRM's phone, which links all three;
// then events keyed by a third identity and by a merged id. One customer
// is left, the oldest, with the whole history: RFM, the frequency cap,
// once, cooldowns and the benefit group all read it.
func TestMergeKeepsTheWholeHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("life", lifecycle)
	e := f.policyEngine(`cap: { messages: 2, per: 7d }`)
	phone := domain.Identity{Kind: "phone", Value: "13800138000"}
	union := domain.Identity{Kind: "unionid", Value: "oU-7"}
	member := domain.Identity{Kind: "member_no", Value: "M-3"}

	if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: "shop-7", Tier: "gold", Member: true, JoinedAt: t0.Add(-100 * day),
		OptOut: []string{"hook"}, Attrs: map[string]any{"city": "杭州"}, Identities: []domain.Identity{union}}}, t0, "import shop.jsonl"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{
		{ID: "o1", CustomerID: "shop-7", Type: "order", At: t0.Add(-20 * day), AmountFen: 20000},
		{ID: "o2", CustomerID: "shop-7", Type: "order", At: t0.Add(-10 * day), AmountFen: 30000}}); err != nil {
		t.Fatal(err)
	}
	// Day 0: the shop customer is welcomed, gets the month's voucher and
	// a message.
	if r := f.run(e, t0, false); r.Fired != 3 {
		t.Fatalf("day 0: %d fires, want 3: %+v", r.Fired, r)
	}
	// The CRM's record of the same person, older, with an older order.
	if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: "crm-1", Tier: "normal", Name: "李雷", JoinedAt: t0.Add(-400 * day),
		Identities: []domain.Identity{phone}}}, t0.Add(day/2), "import crm.jsonl"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "o0", CustomerID: "crm-1", Type: "order", At: t0.Add(-60 * day), AmountFen: 10000}}); err != nil {
		t.Fatal(err)
	}
	// The mini-program's record names both: three customers become one.
	res, err := e.StoreCustomers(ctx, []domain.Customer{{ID: "mini-3", Member: true, Identities: []domain.Identity{union, phone, member}}}, t0.Add(day), "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Merges) != 2 || res.IDs[0] != "crm-1" {
		t.Fatalf("merges %+v, stored as %v; want two merges into crm-1", res.Merges, res.IDs)
	}
	if m := res.Merges[0]; m.Survivor != "shop-7" || m.Merged != "mini-3" || m.Identity.Kind != "unionid" {
		t.Errorf("first merge %+v: want mini-3 into shop-7 by the unionid", m)
	}
	if m := res.Merges[1]; m.Survivor != "crm-1" || m.Merged != "shop-7" || m.Identity.Value != "+8613800138000" ||
		m.Moved["events"] != 2 || m.Moved["fires"] != 3 || m.Moved["coupons"] != 1 || m.Moved["contacts"] != 1 || m.Moved["identities"] != 1 || m.Moved["aliases"] != 1 {
		t.Errorf("second merge %+v: want shop-7 into crm-1 by the phone, with its 2 events, 3 fires, a coupon, a contact, its identity and alias", m)
	}
	// Events keyed by a third identity and by a merged id land on crm-1.
	added, err := e.AddEvents(ctx, []domain.Event{
		{ID: "o3", Identity: &member, Type: "order", At: t0.Add(day), AmountFen: 5000},
		{ID: "v1", CustomerID: "shop-7", Type: "visit", At: t0.Add(day)}})
	if err != nil || len(added.ItemErrs) > 0 {
		t.Fatalf("events after the merge: %v %v", err, added.ItemErrs)
	}
	for _, q := range []string{`SELECT count(*) FROM customers`, `SELECT count(*) FROM customers WHERE id = 'crm-1'`} {
		if n := f.count(q); n != 1 {
			t.Errorf("%s = %d, want 1", q, n)
		}
	}
	for _, table := range []string{"events", "fires", "coupons", "contacts", "jobs", "identities"} {
		if n := f.count(`SELECT count(*) FROM ` + table + ` WHERE customer_id != 'crm-1'`); n != 0 {
			t.Errorf("%d %s left with the merged customers", n, table)
		}
	}
	if n := f.count(`SELECT count(*) FROM customer_aliases WHERE customer_id = 'crm-1' AND alias IN ('shop-7', 'mini-3')`); n != 2 {
		t.Errorf("%d aliases, want shop-7 and mini-3 pointing at crm-1", n)
	}

	// The stored customer: the higher tier, the older name, the union of
	// opt-outs, tags and attrs, every identity, both aliases.
	c, err := e.Customer(ctx, "mini-3")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "crm-1" || c.Tier != "gold" || c.Name != "李雷" || !c.Member || !slices.Equal(c.OptOut, []string{"hook"}) ||
		!slices.Contains(c.Tags, "welcomed") || c.Attrs["city"] != "杭州" || !c.JoinedAt.Equal(t0.Add(-400*day)) ||
		len(c.Identities) != 3 || !slices.Equal(c.Aliases, []string{"mini-3", "shop-7"}) {
		t.Errorf("merged customer %+v", c)
	}

	// RFM on the whole history: four orders, ¥650, the latest a day ago.
	p, err := e.Profile(ctx, "crm-1", t0.Add(2*day))
	if err != nil {
		t.Fatal(err)
	}
	if p.Orders != 4 || p.Spend != 650 || p.RecencyDays == nil || *p.RecencyDays != 1 || p.Contacts7d != 1 || p.OpenCoupons != 1 {
		t.Errorf("profile: orders %d spend %v recency %v contacts_7d %d open coupons %d; want 4, 650, 1, 1, 1",
			p.Orders, p.Spend, p.RecencyDays, p.Contacts7d, p.OpenCoupons)
	}
	// Day 2: welcome is once (shop-7 had it), the voucher is in its
	// cooldown and the group's month; the nudge goes: a second message.
	r := f.run(e, t0.Add(2*day), false)
	if r.Rules[0].Suppressed[evaluate.ReasonOnce] != 1 || r.Rules[1].Fired != 0 || r.Rules[2].Fired != 1 {
		t.Errorf("day 2: welcome %v, voucher fired %d %v, nudge fired %d; want once, nothing, 1",
			r.Rules[0].Suppressed, r.Rules[1].Fired, r.Rules[1].Suppressed, r.Rules[2].Fired)
	}
	// Day 3: two messages in 7 days, one of them shop-7's: capped.
	r = f.run(e, t0.Add(3*day), false)
	if r.Rules[2].Suppressed[policy.ReasonCap] != 1 {
		t.Errorf("day 3: nudge %v, want capped by the merged history", r.Rules[2].Suppressed)
	}
	// Day 30: the voucher's cooldown (from shop-7's day-0 voucher) is over.
	if r := f.run(e, t0.Add(30*day), false); r.Rules[1].Fired != 1 {
		t.Errorf("day 30: voucher fired %d, want 1", r.Rules[1].Fired)
	}
	// The merged fires are numbered in time order per rule and group.
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'nudge' AND customer_id = 'crm-1' AND seq = 1 AND at = ?`, t0.UnixMilli()); n != 1 {
		t.Error("shop-7's day-0 nudge is not crm-1's first")
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE grp = 'monthly' AND customer_id = 'crm-1' AND gseq = 2 AND at = ?`, t0.Add(30*day).UnixMilli()); n != 1 {
		t.Error("the day-30 voucher is not the group's second")
	}

	// Operators see the merges, of any of the ids.
	for _, id := range []string{"crm-1", "shop-7", "mini-3"} {
		ms, err := e.Merges(ctx, domain.MergeFilter{CustomerID: id})
		if err != nil || len(ms) != 2 || ms[0].Merged != "shop-7" || ms[1].Merged != "mini-3" {
			t.Errorf("merges of %s: %+v %v", id, ms, err)
		}
	}
	// Deleting the person by any of their ids deletes everything of them.
	if err := e.DeleteCustomer(ctx, "shop-7"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"customers", "events", "fires", "coupons", "contacts", "identities", "customer_aliases", "merges"} {
		if n := f.count(`SELECT count(*) FROM ` + table); n != 0 {
			t.Errorf("%d %s left after deleting the merged customer", n, table)
		}
	}
}

// A record keyed by a merged id adds to the survivor as a merge would:
// it does not replace the survivor's fields, and its identities link.
func TestRecordOfAMergedID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.engine()
	u := domain.Identity{Kind: "unionid", Value: "u1"}
	for _, c := range []domain.Customer{
		{ID: "a", Name: "A", Tier: "normal", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{u}},
		{ID: "b", Name: "B", Tier: "vip", JoinedAt: t0, Tags: []string{"x"}, Identities: []domain.Identity{u}},
	} {
		if _, err := e.StoreCustomers(ctx, []domain.Customer{c}, t0, "test"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.StoreCustomers(ctx, []domain.Customer{{ID: "b", Name: "B2", Tier: "normal", Tags: []string{"y"}, OptOut: []string{"sms"},
		Identities: []domain.Identity{{Kind: "email", Value: "b@example.com"}}}}, t0.Add(day), "test")
	if err != nil || len(res.Merges) != 0 || res.IDs[0] != "a" {
		t.Fatalf("record of b: %+v %v", res, err)
	}
	c, err := e.Customer(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "A" || c.Tier != "vip" || !slices.Equal(c.Tags, []string{"x", "y"}) || !slices.Equal(c.OptOut, []string{"sms"}) || len(c.Identities) != 2 {
		t.Errorf("a after b's record: %+v", c)
	}
}

// Journeys: both customers' entries are numbered again in time order,
// their steps' fires with them; of two entries under way the earlier
// stays and is the latest; the other ends.
func TestMergeNumbersJourneyEntries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("sop", `
name: sop
schedule: "0 * * * *"
journey:
  enter: { when: "true" }
  reenter: 1d
  steps:
    - id: hello
      after: 0d
      actions: [{ tag: { add: [hello] } }]
    - id: later
      after: 10d
      actions: [{ tag: { add: [later] } }]
`)
	e := f.engine()
	for i, c := range []string{"old", "young"} {
		if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: c, JoinedAt: t0.Add(time.Duration(i-5) * day)}}, t0, "test"); err != nil {
			t.Fatal(err)
		}
		// young enters a day after old.
		if _, err := e.Run(ctx, engine.RunRequest{At: t0.Add(time.Duration(i) * day)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE status = 'entered'`); n != 2 {
		t.Fatalf("%d entries under way, want 2", n)
	}
	u := domain.Identity{Kind: "unionid", Value: "u"}
	for _, c := range []string{"old", "young"} {
		if _, err := e.LinkIdentities(ctx, c, []domain.Identity{u}, t0.Add(2*day), "test"); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		entry  int
		status string
	}
	var got []row
	rows, err := f.db.SQL().Query(`SELECT entry, status FROM journey_state WHERE customer_id = 'old' ORDER BY entry`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r row
		rows.Scan(&r.entry, &r.status)
		got = append(got, r)
	}
	rows.Close()
	if fmt.Sprint(got) != "[{1 exited} {2 entered}]" {
		t.Errorf("old's entries %v: want young's ended as 1, old's under way as 2", got)
	}
	// The hello fires follow their entries: old's (entered day 0) is 2.
	if n := f.count(`SELECT count(*) FROM fires WHERE playbook = 'sop' AND rule = 'hello' AND customer_id = 'old' AND seq = 2 AND at = ?`, t0.UnixMilli()); n != 1 {
		t.Error("old's own hello fire is not numbered by its entry (2)")
	}
	// The later step comes once, for the entry under way.
	if _, err := e.Run(ctx, engine.RunRequest{At: t0.Add(10 * day)}); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE playbook = 'sop' AND rule = 'later'`); n != 1 {
		t.Errorf("%d later steps fired, want 1", n)
	}
}

// Both customers' fires of a rule, and of a benefit group, are numbered
// again in the order they happened, not one customer's after the other's.
func TestMergeNumbersFiresInTimeOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("every", `
name: every
limits: { max_fires: 100% }
rules:
  - id: tick
    group: g
    when: "true"
    cooldown: 2d
    actions: [{ tag: { add: [ticked] } }]
`)
	e := f.engine()
	u := domain.Identity{Kind: "unionid", Value: "u"}
	store := func(c domain.Customer, at time.Time) {
		t.Helper()
		if _, err := e.StoreCustomers(ctx, []domain.Customer{c}, at, "test"); err != nil {
			t.Fatal(err)
		}
	}
	store(domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day)}, t0)
	f.run(e, t0, false) // a: day 0
	store(domain.Customer{ID: "b", JoinedAt: t0.Add(-5 * day)}, t0.Add(day/2))
	f.run(e, t0.Add(day), false)   // b: day 1
	f.run(e, t0.Add(2*day), false) // a: day 2
	store(domain.Customer{ID: "b", JoinedAt: t0.Add(-5 * day), Identities: []domain.Identity{u}}, t0.Add(3*day))
	store(domain.Customer{ID: "a", JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{u}}, t0.Add(3*day))
	rows, err := f.db.SQL().Query(`SELECT customer_id, seq, gseq, (at - ?) / 86400000 FROM fires ORDER BY seq`, t0.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var c string
		var seq, gseq, d int
		rows.Scan(&c, &seq, &gseq, &d)
		got = append(got, fmt.Sprintf("%s %d %d day %d", c, seq, gseq, d))
	}
	rows.Close()
	if want := "[a 1 1 day 0 a 2 2 day 1 a 3 3 day 2]"; fmt.Sprint(got) != want {
		t.Errorf("fires after the merge %v, want %s", got, want)
	}
	// The next fire follows them.
	if r := f.run(e, t0.Add(4*day), false); r.Fired != 1 || f.count(`SELECT count(*) FROM fires WHERE seq = 4 AND gseq = 4`) != 1 {
		t.Errorf("day 4: %d fired; fires %d", r.Fired, f.count(`SELECT count(*) FROM fires`))
	}
}

// A record may name its customer by identities alone: it adds to whoever
// has one of them (and merges those who have others), or is a new
// customer named after its first identity, a phone hashed.
func TestRecordsKeyedByIdentities(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.engine()
	u := domain.Identity{Kind: "unionid", Value: "oU1"}
	p := domain.Identity{Kind: "phone", Value: "+8613800138000"}
	store := func(c domain.Customer, at time.Time) domain.StoredCustomers {
		t.Helper()
		res, err := e.StoreCustomers(ctx, []domain.Customer{c}, at, "test")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := store(domain.Customer{Name: "李雷", Identities: []domain.Identity{u}}, t0); res.IDs[0] != "unionid:oU1" {
		t.Errorf("new by unionid: %v", res.IDs)
	}
	res := store(domain.Customer{Identities: []domain.Identity{p}}, t0.Add(day))
	if !strings.HasPrefix(res.IDs[0], "phone:") || strings.Contains(res.IDs[0], "138") {
		t.Errorf("new by phone: %v; want a hashed id", res.IDs)
	}
	res = store(domain.Customer{Tier: "gold", Tags: []string{"mini"}, Identities: []domain.Identity{u, p}}, t0.Add(2*day))
	if len(res.Merges) != 1 || res.IDs[0] != "unionid:oU1" {
		t.Fatalf("a record naming both: %+v", res)
	}
	c, err := e.Customer(ctx, "unionid:oU1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "李雷" || c.Tier != "gold" || !slices.Equal(c.Tags, []string{"mini"}) || len(c.Identities) != 2 {
		t.Errorf("after the record: %+v", c)
	}
	// An existing customer with the id an identity would get is added to.
	if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: "member:M1", Name: "王芳"}}, t0, "test"); err != nil {
		t.Fatal(err)
	}
	if res := store(domain.Customer{Name: "x", Identities: []domain.Identity{{Kind: "member_no", Value: "M1"}}}, t0.Add(day)); res.IDs[0] != "member:M1" {
		t.Errorf("member_no M1: %v", res.IDs)
	}
	if c, _ := e.Customer(ctx, "member:M1"); c == nil || c.Name != "王芳" || len(c.Identities) != 1 {
		t.Errorf("member:M1 after a record by its member number: %+v", c)
	}
	if n := f.count(`SELECT count(*) FROM customers`); n != 2 {
		t.Errorf("%d customers, want 2", n)
	}
}

package profile_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// pond builds a pond from customers (by id) and events.
type pondBuilder struct {
	p *profile.Pond
	n int
}

func newPond() *pondBuilder { return &pondBuilder{p: profile.NewPond()} }

func (b *pondBuilder) customer(id string, opts ...func(*domain.Customer)) *pondBuilder {
	c := domain.Customer{ID: id, JoinedAt: now.Add(-400 * day)}
	for _, o := range opts {
		o(&c)
	}
	b.p.PutCustomer(c)
	return b
}

func (b *pondBuilder) event(cust, typ string, ago time.Duration, yuan float64, orderID string) *pondBuilder {
	b.n++
	b.p.AddEvent(domain.Event{ID: fmt.Sprintf("ev%d", b.n), CustomerID: cust, Type: typ, At: now.Add(-ago), AmountFen: int64(yuan * 100), OrderID: orderID})
	return b
}

func (b *pondBuilder) order(cust string, ago time.Duration, yuan float64, orderID string) *pondBuilder {
	return b.event(cust, domain.EventOrder, ago, yuan, orderID)
}

func (b *pondBuilder) profile(t *testing.T, id string) profile.Profile {
	t.Helper()
	return b.profileAt(t, id, now, profile.ProfileConfig{})
}

func (b *pondBuilder) profileAt(t *testing.T, id string, at time.Time, cfg profile.ProfileConfig) profile.Profile {
	t.Helper()
	s := profile.ComputeSnapshot(b.p, at, cfg)
	i, ok := b.p.Lookup(id)
	if !ok {
		t.Fatalf("no customer %s", id)
	}
	return *s.Profile(i)
}

func TestWindowsAreHalfOpenAtTheStart(t *testing.T) {
	b := newPond().customer("a").
		order("a", 30*day, 100, "o1").                 // exactly now-30d: outside (now-30d, now]
		order("a", 30*day-time.Millisecond, 10, "o2"). // just inside
		order("a", 0, 1, "o3").                        // exactly now: inside
		order("a", -time.Minute, 1000, "o4")           // after now: ignored
	p := b.profile(t, "a")
	if p.Orders30d != 2 || p.Spend30d != 11 {
		t.Errorf("30d window: orders %d spend %v, want 2 and 11", p.Orders30d, p.Spend30d)
	}
	if p.Orders != 3 || p.Spend != 111 {
		t.Errorf("lifetime: orders %d spend %v, want 3 and 111 (the future order is ignored)", p.Orders, p.Spend)
	}
	if p.Orders90d != 3 || p.Orders365d != 3 {
		t.Errorf("90d/365d orders = %d/%d, want 3/3", p.Orders90d, p.Orders365d)
	}
	if p.RecencyDays == nil || *p.RecencyDays != 0 {
		t.Errorf("recency = %v, want 0", p.RecencyDays)
	}
}

func TestWholeDaysAreFloored(t *testing.T) {
	b := newPond().customer("a").order("a", 2*day-time.Second, 50, "o1")
	p := b.profile(t, "a")
	if *p.RecencyDays != 1 {
		t.Errorf("recency after 47h59m59s = %d, want 1", *p.RecencyDays)
	}
	if p.JoinedDays != 400 {
		t.Errorf("joined_days = %d, want 400", p.JoinedDays)
	}
}

func TestRefunds(t *testing.T) {
	b := newPond().customer("a").
		order("a", 100*day, 200, "o1"). // partially refunded later: spend leaves the order's window
		event("a", domain.EventRefund, 10*day, 50, "o1").
		order("a", 20*day, 80, "o2"). // fully refunded in two parts: no longer an order
		event("a", domain.EventRefund, 15*day, 30, "o2").
		event("a", domain.EventRefund, 12*day, 50, "o2").
		event("a", domain.EventRefund, 5*day, 999, "unknown"). // unknown order: nothing changes
		event("a", domain.EventRefund, -day, 200, "o1")        // after now: ignored
	p := b.profile(t, "a")
	if p.Orders != 1 || p.Spend != 150 {
		t.Errorf("orders %d spend %v, want 1 and 150", p.Orders, p.Spend)
	}
	if p.Spend30d != 0 || p.Orders30d != 0 {
		t.Errorf("30d: orders %d spend %v, want 0 and 0 (o2 is fully refunded; o1's refund belongs to o1's window)", p.Orders30d, p.Spend30d)
	}
	if p.Spend365d != 150 {
		t.Errorf("spend_365d = %v, want 150", p.Spend365d)
	}
	if *p.RecencyDays != 100 {
		t.Errorf("recency = %d, want 100 (a fully refunded order does not count for recency)", *p.RecencyDays)
	}
	if p.AOV != 150 {
		t.Errorf("aov = %v, want 150", p.AOV)
	}
}

func TestFullyRefundedOnlyOrderLeavesRecencyNil(t *testing.T) {
	b := newPond().customer("a").order("a", 3*day, 60, "").event("a", domain.EventRefund, 2*day, 60, "ev1")
	p := b.profile(t, "a")
	if p.Orders != 0 || p.RecencyDays != nil {
		t.Errorf("orders %d recency %v, want 0 and nil (the order without order_id is known by its event id)", p.Orders, p.RecencyDays)
	}
}

func TestDuplicateEventAndOrderIDsCountOnce(t *testing.T) {
	b := newPond().customer("a")
	e := domain.Event{ID: "same", CustomerID: "a", Type: domain.EventOrder, At: now.Add(-day), AmountFen: 1000, OrderID: "o1"}
	if !b.p.AddEvent(e) {
		t.Fatal("first event rejected")
	}
	if b.p.AddEvent(e) {
		t.Error("a duplicate event id was accepted")
	}
	e.ID = "other-event-same-order"
	b.p.AddEvent(e)
	p := b.profile(t, "a")
	if p.Orders != 1 || p.Spend != 10 {
		t.Errorf("orders %d spend %v, want 1 and 10", p.Orders, p.Spend)
	}
}

func TestNilComparisonsAreFalseNeverErrors(t *testing.T) {
	b := newPond().customer("never").customer("bought").order("bought", 60*day, 10, "o")
	s := profile.ComputeSnapshot(b.p, now, profile.ProfileConfig{})
	cases := []struct {
		expr         string
		never, bougt bool
	}{
		{"recency_days > 45", false, true},
		{"recency_days <= 45", false, false},
		{"!(recency_days > 45)", true, false},
		{"recency_days + 1 > 45", false, true},
		{"recency_days > 45 || orders == 0", true, true},
		{"recency_days == nil", true, false},
		{"coupon_expiring_days <= 2", false, false},
		{"attrs.age > 30", false, false},
	}
	for _, c := range cases {
		cond, err := rules.CompileExpr(c.expr, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		for id, want := range map[string]bool{"never": c.never, "bought": c.bougt} {
			i, _ := b.p.Lookup(id)
			var m rules.Evaluator
			got, err := cond.Eval(&m, s.Profile(i))
			if err != nil {
				t.Errorf("%s for %s: error %v", c.expr, id, err)
			} else if got != want {
				t.Errorf("%s for %s = %v, want %v", c.expr, id, got, want)
			}
		}
	}
}

func TestTypeErrorsStayLoadErrors(t *testing.T) {
	for _, src := range []string{`tier > 5`, `recency_days > "x"`, `unknown_attr > 1`, `rfm.segmnt == "x"`, `orders + 1`} {
		if _, err := rules.CompileExpr(src, profile.ExprEnv()); err == nil {
			t.Errorf("%s compiled; want an error", src)
		}
	}
}

// TestRFMQuintiles checks score = 1 + floor(5w/n) with w the number of
// scored customers strictly worse, including ties.
func TestRFMQuintiles(t *testing.T) {
	b := newPond()
	// Ten buyers: c0..c9 with i+1 orders (c9 best F), recency 10*(10-i)
	// days (c9 most recent), one order of 100*(i+1) yuan each plus the rest small.
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("c%d", i)
		b.customer(id)
		for k := 0; k <= i; k++ {
			b.order(id, time.Duration(10*(10-i)+k)*day, float64(10*(i+1)), fmt.Sprintf("%s-%d", id, k))
		}
	}
	// Two tied customers, and one who never ordered (not scored).
	b.customer("t1").order("t1", 5*day, 1, "t1o").customer("t2").order("t2", 5*day, 1, "t2o").customer("none")
	s := profile.ComputeSnapshot(b.p, now, profile.ProfileConfig{})
	get := func(id string) profile.RFM { i, _ := b.p.Lookup(id); return s.Profile(i).RFM }
	n := 12
	score := func(w int) int { return 1 + 5*w/n }
	// F: c_i has i+1 orders; t1, t2 have 1 (tied with c0). Worse than c_i: customers with fewer orders.
	for i := 0; i < 10; i++ {
		w := 0
		if i > 0 {
			w = 2 + i // t1, t2 and c0..c(i-1)
		}
		if got := get(fmt.Sprintf("c%d", i)).F; got != score(w) {
			t.Errorf("c%d F = %d, want %d (w=%d)", i, got, score(w), w)
		}
	}
	if get("t1").F != get("c0").F || get("t1").F != 1 {
		t.Errorf("tied F: t1 %d c0 %d, want equal and 1", get("t1").F, get("c0").F)
	}
	// R: t1, t2 at 5 days are the most recent and tied: 10 customers are worse.
	if got := get("t1").R; got != score(10) || get("t2").R != got {
		t.Errorf("t1/t2 R = %d/%d, want %d", got, get("t2").R, score(10))
	}
	if got := get("c0").R; got != 1 {
		t.Errorf("c0 (least recent) R = %d, want 1", got)
	}
	if got := get("c9").M; got != 5 {
		t.Errorf("c9 (biggest spender) M = %d, want 5", got)
	}
	if r := get("none"); r != (profile.RFM{}) {
		t.Errorf("never-ordered RFM = %+v, want zero and no segment", r)
	}
	if s.Pop.Scored() != n {
		t.Errorf("scored = %d, want %d", s.Pop.Scored(), n)
	}
}

func TestRFMWindowExcludesOldBuyers(t *testing.T) {
	b := newPond().customer("old").order("old", 400*day, 100, "o").customer("new").order("new", 10*day, 100, "o2")
	s := profile.ComputeSnapshot(b.p, now, profile.ProfileConfig{})
	i, _ := b.p.Lookup("old")
	if s.Profile(i).RFM.Segment != "" || s.Pop.Scored() != 1 {
		t.Errorf("a buyer outside the 365d window was scored: %+v, scored=%d", s.Profile(i).RFM, s.Pop.Scored())
	}
}

func TestSegmentsAgainstMeans(t *testing.T) {
	b := newPond()
	// Means over a, b, c, d: recency 40 days, orders 2.5, spend 250.
	b.customer("a").order("a", 10*day, 100, "a1").order("a", 11*day, 100, "a2").order("a", 12*day, 100, "a3").order("a", 13*day, 100, "a4") // R high F high M high
	b.customer("b").order("b", 70*day, 300, "b1")                                                                                           // R low F low M high
	b.customer("c").order("c", 20*day, 10, "c1").order("c", 21*day, 10, "c2").order("c", 22*day, 10, "c3")                                  // R high F high M low
	b.customer("d").order("d", 60*day, 200, "d1").order("d", 61*day, 10, "d2")                                                              // R low F low M low
	want := map[string]string{"a": profile.SegImportantValue, "b": profile.SegImportantWinback, "c": profile.SegGeneralValue, "d": profile.SegGeneralWinback}
	s := profile.ComputeSnapshot(b.p, now, profile.ProfileConfig{})
	for id, seg := range want {
		i, _ := b.p.Lookup(id)
		if got := s.Profile(i).RFM.Segment; got != seg {
			t.Errorf("%s segment = %q, want %q", id, got, seg)
		}
	}
	// Fixed thresholds replace the means.
	s = profile.ComputeSnapshot(b.p, now, profile.ProfileConfig{Thresholds: &profile.Thresholds{RecencyDays: 100, Orders: 1, Spend: 1}})
	for _, id := range []string{"a", "b", "c", "d"} {
		i, _ := b.p.Lookup(id)
		if got := s.Profile(i).RFM.Segment; got != profile.SegImportantValue {
			t.Errorf("%s with loose thresholds = %q, want important_value", id, got)
		}
	}
}

func TestLifecycleFirstMatchWins(t *testing.T) {
	member := func(c *domain.Customer) { c.Member = true }
	b := newPond().
		customer("koc").order("koc", 10*day, 1, "k1").order("koc", 20*day, 1, "k2").event("koc", domain.EventReferral, 5*day, 0, "").
		customer("koc-old-ref").order("koc-old-ref", 10*day, 1, "x1").order("koc-old-ref", 20*day, 1, "x2").event("koc-old-ref", domain.EventReferral, 400*day, 0, "").
		customer("repeat").order("repeat", 10*day, 1, "r1").order("repeat", 300*day, 1, "r2").
		customer("purchased").order("purchased", 10*day, 1, "p1").order("purchased", 500*day, 1, "p0").
		customer("member", member).
		customer("lapsed").order("lapsed", 400*day, 1, "l1").
		customer("basic")
	want := map[string]string{"koc": "koc", "koc-old-ref": "repeat", "repeat": "repeat", "purchased": "purchased", "member": "member", "lapsed": "member", "basic": "basic"}
	for id, stage := range want {
		if got := b.profile(t, id).Lifecycle; got != stage {
			t.Errorf("%s lifecycle = %q, want %q", id, got, stage)
		}
	}
}

func TestEvaluatingInThePastIgnoresLaterData(t *testing.T) {
	b := newPond().customer("a").order("a", 50*day, 10, "o1").order("a", 5*day, 10, "o2").
		customer("late", func(c *domain.Customer) { c.JoinedAt = now.Add(-day) })
	past := now.Add(-20 * day)
	s := profile.ComputeSnapshot(b.p, past, profile.ProfileConfig{})
	i, _ := b.p.Lookup("a")
	if p := s.Profile(i); p.Orders != 1 || *p.RecencyDays != 30 {
		t.Errorf("at now-20d: orders %d recency %d, want 1 and 30", p.Orders, *p.RecencyDays)
	}
	j, _ := b.p.Lookup("late")
	if s.Present[j] {
		t.Error("a customer who joined after the evaluated moment is present")
	}
}

func TestCouponsAndCounts(t *testing.T) {
	b := newPond().customer("a").
		event("a", "visit", 3*day, 0, "").event("a", "visit", 8*day, 0, "").event("a", "visit", -day, 0, "").
		event("a", domain.EventShare, 10*day, 0, "").event("a", domain.EventShare, 100*day, 0, "")
	i, _ := b.p.Lookup("a")
	b.p.AddCoupon(i, domain.IssuedCoupon{Code: "A", IssuedAt: now.Add(-day), ExpiresAt: now.Add(5*day + time.Hour)})
	b.p.AddCoupon(i, domain.IssuedCoupon{Code: "B", IssuedAt: now.Add(-day), ExpiresAt: now.Add(2*day + time.Hour)})
	b.p.AddCoupon(i, domain.IssuedCoupon{Code: "EXPIRED", IssuedAt: now.Add(-9 * day), ExpiresAt: now.Add(-day)})
	b.p.AddCoupon(i, domain.IssuedCoupon{Code: "USED", IssuedAt: now.Add(-2 * day), ExpiresAt: now.Add(day)})
	b.p.AddEvent(domain.Event{ID: "redeem", CustomerID: "a", Type: domain.EventCouponRedeem, At: now.Add(-time.Hour), Code: "USED"})
	p := b.profile(t, "a")
	if p.OpenCoupons != 2 || p.CouponExpiringDays == nil || *p.CouponExpiringDays != 2 {
		t.Errorf("open %d expiring %v, want 2 and 2", p.OpenCoupons, p.CouponExpiringDays)
	}
	if p.CouponExpiringIssuedDays == nil || *p.CouponExpiringIssuedDays != 1 {
		t.Errorf("coupon_expiring_issued_days %v, want 1 (B's)", p.CouponExpiringIssuedDays)
	}
	// Of two coupons expiring together, the younger one's age counts.
	b.p.AddCoupon(i, domain.IssuedCoupon{Code: "C", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(2*day + time.Hour)})
	p = b.profile(t, "a")
	if p.OpenCoupons != 3 || *p.CouponExpiringDays != 2 || *p.CouponExpiringIssuedDays != 0 {
		t.Errorf("open %d expiring %d issued %d days ago, want 3, 2 and 0", p.OpenCoupons, *p.CouponExpiringDays, *p.CouponExpiringIssuedDays)
	}
	if got := p.CountEvents("visit", "7d"); got != 1 {
		t.Errorf(`count("visit", "7d") = %d, want 1`, got)
	}
	if got := p.CountEvents("visit", "30d"); got != 2 {
		t.Errorf(`count("visit", "30d") = %d, want 2 (the future visit is ignored)`, got)
	}
	if got := p.CountEvents("no_such_type", "30d"); got != 0 {
		t.Errorf("count of an unknown type = %d", got)
	}
	if p.Shares90d != 1 {
		t.Errorf("shares_90d = %d, want 1", p.Shares90d)
	}
}

func TestBirthdayInDays(t *testing.T) {
	cases := map[string]any{"06-01": 0, "1990-06-08": 7, "05-31": 364, "": nil, "02-29": 273}
	for bday, want := range cases {
		b := newPond().customer("a", func(c *domain.Customer) { c.Birthday = bday })
		p := b.profile(t, "a")
		var got any
		if p.BirthdayInDays != nil {
			got = *p.BirthdayInDays
		}
		if got != want {
			t.Errorf("birthday %q: in %v days, want %v", bday, got, want)
		}
	}
	// Calendar days follow the configured timezone: at 2026-05-31T20:00Z it
	// is already 1 June in Shanghai.
	sh, _ := time.LoadLocation("Asia/Shanghai")
	b := newPond().customer("a", func(c *domain.Customer) { c.Birthday = "06-01" })
	p := b.profileAt(t, "a", time.Date(2026, 5, 31, 20, 0, 0, 0, time.UTC), profile.ProfileConfig{Location: sh})
	if *p.BirthdayInDays != 0 {
		t.Errorf("birthday in Shanghai = %d, want 0", *p.BirthdayInDays)
	}
}

// RecomputePopulation's population scores as the full snapshot's does, in
// memory reused from an earlier snapshot, and scores sparse snapshots the
// same: journeys and single profiles are scored with it.
func TestRecomputePopulationScoresAsASnapshot(t *testing.T) {
	b := newPond()
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("c%02d", i)
		b.customer(id)
		for k := 0; k <= i%7; k++ {
			b.order(id, time.Duration(3*i+k)*day, float64(10*(i%11+1)), fmt.Sprintf("%s-%d", id, k))
		}
	}
	b.customer("none")
	full := profile.ComputeSnapshot(b.p, now, profile.ProfileConfig{})
	// Memory of a snapshot at another moment, as the engine's spare is.
	spare := profile.ComputeSnapshot(b.p, now.Add(-30*day), profile.ProfileConfig{})
	pop, _ := profile.RecomputePopulation(spare, b.p, now, profile.ProfileConfig{})
	pop = pop.Clone()
	if pop.Scored() != full.Pop.Scored() {
		t.Fatalf("population of %d, the snapshot's of %d", pop.Scored(), full.Pop.Scored())
	}
	r1, f1, m1 := pop.Means()
	r2, f2, m2 := full.Pop.Means()
	if r1 != r2 || f1 != f2 || m1 != m2 {
		t.Errorf("means %v %v %v, the snapshot's %v %v %v", r1, f1, m1, r2, f2, m2)
	}
	indexes := make([]int, b.p.Len())
	for i := range indexes {
		indexes[i] = i
	}
	sparse := profile.SparseSnapshot(b.p, pop, indexes, now, profile.ProfileConfig{})
	for i := range indexes {
		got, want := sparse.Profile(i).RFM, full.Profile(i).RFM
		if got != want {
			t.Errorf("customer %d: RFM %+v with the population, %+v in the snapshot", i, got, want)
		}
	}
}

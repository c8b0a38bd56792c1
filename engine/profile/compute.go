package profile

import (
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

const dayMs = int64(24 * time.Hour / time.Millisecond)

// ProfileConfig holds what profile computation depends on besides the data.
type ProfileConfig struct {
	// RFMWindow is the window customers are scored over (default 365 days).
	RFMWindow time.Duration
	// Period is the lifecycle period (default 365 days).
	Period time.Duration
	// Thresholds, when set, replace the population means for segments.
	Thresholds *Thresholds
	// Location is the calendar used for birthdays.
	Location *time.Location
}

// Thresholds are fixed high/low boundaries for RFM segments.
type Thresholds struct {
	// RecencyDays: R is high when recency_days <= RecencyDays.
	RecencyDays float64 `yaml:"recency_days" json:"recency_days"`
	// Orders: F is high when orders in the window >= Orders.
	Orders float64 `yaml:"orders" json:"orders"`
	// Spend: M is high when spend in the window (yuan) >= Spend.
	Spend float64 `yaml:"spend" json:"spend"`
}

func (c ProfileConfig) withDefaults() ProfileConfig {
	if c.RFMWindow <= 0 {
		c.RFMWindow = 365 * 24 * time.Hour
	}
	if c.Period <= 0 {
		c.Period = 365 * 24 * time.Hour
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	return c
}

type order struct {
	ref      uint64
	at       int64
	amount   int64
	refunded int64
}

// profiler computes profiles at one moment. Everything that depends only
// on the moment is computed once here, not once per customer.
type profiler struct {
	now                                time.Time
	nowMs, rfmFrom, periodFrom, from90 int64
	types                              *typeTable
	// untilBirthday[month][day] is the number of days from today (in the
	// configured calendar) to the next such birthday.
	untilBirthday [13][32]int
}

func newProfiler(now time.Time, cfg ProfileConfig, types *typeTable) *profiler {
	nowMs := now.UnixMilli()
	pr := &profiler{
		now: now, nowMs: nowMs, types: types,
		rfmFrom:    nowMs - cfg.RFMWindow.Milliseconds(),
		periodFrom: nowMs - cfg.Period.Milliseconds(),
		from90:     nowMs - 90*dayMs,
	}
	today := now.In(cfg.Location)
	for m := 1; m <= 12; m++ {
		for d := 1; d <= 31; d++ {
			pr.untilBirthday[m][d] = daysUntil(time.Month(m), d, today)
		}
	}
	return pr
}

// scratch is one worker's reusable buffers, so profiles allocate nothing.
type scratch struct {
	orders, refunds []order
	redeemed        []uint64
}

// slotsPer is the number of nil-able numbers a profile points into slots.
const slotsPer = 5

// profile computes the profile of customer i of pond, but for RFM scores,
// which need the population. Its nil-able numbers point into slots
// (slotsPer ints the caller provides), so a million profiles do not make
// millions of tiny allocations.
func (pr *profiler) profile(pond *Pond, i int, slots []int, sc *scratch) Profile {
	c, evs, coupons, birthday := &pond.Customers[i], pond.events[i], pond.coupons[i], pond.birthdays[i]
	now, nowMs := pr.now, pr.nowMs
	p := Profile{
		ID: c.ID, Name: c.Name, Tier: c.Tier, Tags: c.Tags, Attrs: c.Attrs,
		Guide: c.Guide, Member: c.Member, Now: now, events: evs, types: pr.types,
		contacts: pond.contacts[i], optOut: c.OptOut,
	}
	if !c.JoinedAt.IsZero() {
		p.JoinedDays = wholeDays(now.Sub(c.JoinedAt))
	}
	orders, refunds, redeemed := sc.orders[:0], sc.refunds[:0], sc.redeemed[:0]
	for _, e := range evs {
		if e.at > nowMs {
			break // events are sorted; later ones do not exist yet at now
		}
		switch e.typ() {
		case typOrder:
			if findOrder(orders, e.ref) < 0 {
				orders = append(orders, order{ref: e.ref, at: e.at, amount: e.amount()})
			}
		case typRefund:
			refunds = append(refunds, order{ref: e.ref, amount: e.amount()})
		case typShare:
			if e.at > pr.from90 {
				p.Shares90d++
			}
		case typReferral:
			p.Referrals++
			if e.at > pr.periodFrom {
				p.facts.periodRefs++
			}
		case typCouponRedeem:
			redeemed = append(redeemed, e.ref)
		}
	}
	sc.orders, sc.refunds, sc.redeemed = orders, refunds, redeemed
	// Refunds apply after all orders are known: a refund's own timestamp does
	// not matter, its amount leaves the window of the order it refunds.
	for _, r := range refunds {
		if i := findOrder(orders, r.ref); i >= 0 {
			orders[i].refunded += r.amount
		}
	}
	var spend, spend30, spend90, spend365, rfmSpend int64
	var last int64 = -1 << 62
	for _, o := range orders {
		if o.refunded > 0 && o.refunded >= o.amount {
			continue // fully refunded: no longer an order
		}
		net := o.amount - o.refunded
		p.Orders++
		spend += net
		last = max(last, o.at)
		age := nowMs - o.at
		if age < 30*dayMs {
			p.Orders30d++
			spend30 += net
		}
		if age < 90*dayMs {
			p.Orders90d++
			spend90 += net
		}
		if age < 365*dayMs {
			p.Orders365d++
			spend365 += net
		}
		if o.at > pr.rfmFrom {
			p.facts.rfmOrders++
			rfmSpend += net
		}
		if o.at > pr.periodFrom {
			p.facts.periodOrd++
		}
	}
	p.Spend = actions.FenToYuan(spend)
	p.Spend30d = actions.FenToYuan(spend30)
	p.Spend90d = actions.FenToYuan(spend90)
	p.Spend365d = actions.FenToYuan(spend365)
	if p.Orders > 0 {
		p.AOV = actions.FenToYuan(spend) / float64(p.Orders)
		slots[0] = wholeDays(time.Duration(nowMs-last) * time.Millisecond)
		p.RecencyDays = &slots[0]
		p.facts.everOrdered = true
	}
	if p.facts.rfmOrders > 0 {
		p.facts.rfmScored = true
		p.facts.rfmRecency = *p.RecencyDays
		p.facts.rfmSpend = rfmSpend
	}
	p.Lifecycle = lifecycle(c.Member, p.facts)
	openCoupons(&p, coupons, redeemed, now, slots[1:2], slots[4:5])
	contactHistory(&p, nowMs, &slots[3])
	if birthday != 0 {
		slots[2] = pr.untilBirthday[birthday/100][birthday%100]
		p.BirthdayInDays = &slots[2]
	}
	return p
}

func findOrder(orders []order, ref uint64) int {
	for i := range orders {
		if orders[i].ref == ref {
			return i
		}
	}
	return -1
}

// lifecycle applies the lifecycle stages of docs/playbooks.md, first match wins.
func lifecycle(member bool, f facts) string {
	switch {
	case f.periodOrd >= 2 && f.periodRefs >= 1:
		return StageKOC
	case f.periodOrd >= 2:
		return StageRepeat
	case f.periodOrd == 1:
		return StagePurchased
	case member || f.everOrdered:
		return StageMember
	default:
		return StageBasic
	}
}

// openCoupons counts coupons issued by now, not expired and not redeemed,
// and sets the days to the nearest expiry (into expiring) and the days
// since that coupon was issued (into issued). Of several coupons expiring
// at the same moment, the age is the youngest one's: a reminder about a
// coupon must not come the moment one was handed out.
func openCoupons(p *Profile, coupons []domain.IssuedCoupon, redeemed []uint64, now time.Time, expiring, issued []int) {
	var nearest, issuedAt time.Time
	for _, c := range coupons {
		if c.IssuedAt.After(now) || !now.Before(c.ExpiresAt) {
			continue
		}
		ref := hashString(c.Code)
		used := false
		for _, r := range redeemed {
			if r == ref {
				used = true
				break
			}
		}
		if used {
			continue
		}
		p.OpenCoupons++
		switch {
		case nearest.IsZero() || c.ExpiresAt.Before(nearest):
			nearest, issuedAt = c.ExpiresAt, c.IssuedAt
		case c.ExpiresAt.Equal(nearest) && c.IssuedAt.After(issuedAt):
			issuedAt = c.IssuedAt
		}
	}
	if p.OpenCoupons > 0 {
		expiring[0] = wholeDays(nearest.Sub(now))
		p.CouponExpiringDays = &expiring[0]
		issued[0] = wholeDays(now.Sub(issuedAt))
		p.CouponExpiringIssuedDays = &issued[0]
	}
}

// contactHistory sets last_contact_days and contacts_7d from the messages
// due by now.
func contactHistory(p *Profile, nowMs int64, slot *int) {
	var last int64 = -1
	for _, m := range p.contacts {
		if m.At > nowMs {
			break // sorted: the rest are planned, not yet sent
		}
		last = m.At
		if m.At > nowMs-7*dayMs {
			p.Contacts7d++
		}
	}
	if last >= 0 {
		*slot = wholeDays(time.Duration(nowMs-last) * time.Millisecond)
		p.LastContactDays = slot
	}
}

// daysUntil counts calendar days from today to the next (month, day), 0 on
// the day. A 29 February birthday falls on 1 March in other years, which
// time.Date's normalisation gives for free.
func daysUntil(month time.Month, day int, today time.Time) int {
	t := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	next := time.Date(today.Year(), month, day, 0, 0, 0, 0, time.UTC)
	if next.Before(t) {
		next = time.Date(today.Year()+1, month, day, 0, 0, 0, 0, time.UTC)
	}
	return int(next.Sub(t) / (24 * time.Hour))
}

// packBirthday parses a birthday into month*100 + day, 0 when unknown.
func packBirthday(s string) uint16 {
	m, d, ok := domain.ParseBirthday(s)
	if !ok {
		return 0
	}
	return uint16(m)*100 + uint16(d)
}

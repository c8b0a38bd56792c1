package profile

import (
	"time"

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
	ref      uint32
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
	redeemed        []uint32
}

// slotsPer is the number of nil-able numbers a profile points into slots.
const slotsPer = 5

// compute computes customer i's row (see row), but for RFM scores, which
// need the population.
func (pr *profiler) compute(pond *Pond, i int, sc *scratch) row {
	c, evs, coupons, birthday := pond.Customers[i], pond.events[i], pond.couponsOf(i), pond.birthdays[i]
	now, nowMs := pr.now, pr.nowMs
	r := newRow(c, evs, pond.contactsOf(i))
	if c.joined {
		r.joinedDays = int32(wholeDays(now.Sub(c.JoinedAt())))
	}
	var periodOrd, periodRefs int32
	orders, refunds, redeemed := sc.orders[:0], sc.refunds[:0], sc.redeemed[:0]
	for k := range evs {
		e := &evs[k]
		if e.at() > nowMs {
			break // events are sorted; later ones do not exist yet at now
		}
		switch e.typ() {
		case typOrder:
			if findOrder(orders, e.ref) < 0 {
				orders = append(orders, order{ref: e.ref, at: e.at(), amount: e.amount()})
			}
		case typRefund:
			refunds = append(refunds, order{ref: e.ref, amount: e.amount()})
		case typShare:
			if e.at() > pr.from90 {
				r.shares90++
			}
		case typReferral:
			r.referrals++
			if e.at() > pr.periodFrom {
				periodRefs++
			}
		case typCouponRedeem:
			redeemed = append(redeemed, e.ref)
		}
	}
	sc.orders, sc.refunds, sc.redeemed = orders, refunds, redeemed
	// Refunds apply after all orders are known: a refund's own timestamp does
	// not matter, its amount leaves the window of the order it refunds.
	for _, rf := range refunds {
		if i := findOrder(orders, rf.ref); i >= 0 {
			orders[i].refunded += rf.amount
		}
	}
	var last int64 = -1 << 62
	for _, o := range orders {
		if o.refunded > 0 && o.refunded >= o.amount {
			continue // fully refunded: no longer an order
		}
		net := o.amount - o.refunded
		r.orders++
		r.spend += net
		last = max(last, o.at)
		age := nowMs - o.at
		if age < 30*dayMs {
			r.orders30++
			r.spend30 += net
		}
		if age < 90*dayMs {
			r.orders90++
			r.spend90 += net
		}
		if age < 365*dayMs {
			r.orders365++
			r.spend365 += net
		}
		if o.at > pr.rfmFrom {
			r.rfmOrders++
			r.rfmSpend += net
		}
		if o.at > pr.periodFrom {
			periodOrd++
		}
	}
	everOrdered := r.orders > 0
	if everOrdered {
		r.recency = int32(wholeDays(time.Duration(nowMs-last) * time.Millisecond))
		r.flags |= hasRecency
	}
	if r.rfmOrders > 0 {
		r.flags |= rfmScored
	}
	r.lifecycle = lifecycle(c.Member, everOrdered, periodOrd, periodRefs)
	openCoupons(&r, coupons, redeemed, now)
	contactHistory(&r, nowMs)
	if birthday != 0 {
		r.birthdayIn = int32(pr.untilBirthday[birthday/100][birthday%100])
		r.flags |= hasBirthday
	}
	return r
}

func findOrder(orders []order, ref uint32) int {
	for i := range orders {
		if orders[i].ref == ref {
			return i
		}
	}
	return -1
}

// lifecycle applies the lifecycle stages of docs/playbooks.md, first
// match wins, given the orders and referrals in the lifecycle period.
func lifecycle(member, everOrdered bool, periodOrd, periodRefs int32) uint8 {
	switch {
	case periodOrd >= 2 && periodRefs >= 1:
		return stageKOC
	case periodOrd >= 2:
		return stageRepeat
	case periodOrd == 1:
		return stagePurchased
	case member || everOrdered:
		return stageMember
	default:
		return stageBasic
	}
}

// openCoupons counts coupons issued by now, not expired and not redeemed,
// and sets the days to the nearest expiry and the days since that coupon
// was issued. Of several coupons expiring at the same moment, the age is
// the youngest one's: a reminder about a coupon must not come the moment
// one was handed out.
func openCoupons(r *row, coupons []domain.IssuedCoupon, redeemed []uint32, now time.Time) {
	var nearest, issuedAt time.Time
	for _, c := range coupons {
		if c.IssuedAt.After(now) || !now.Before(c.ExpiresAt) {
			continue
		}
		ref := refKey(hashString(c.Code))
		used := false
		for _, rd := range redeemed {
			if rd == ref {
				used = true
				break
			}
		}
		if used {
			continue
		}
		r.openCoupons++
		switch {
		case nearest.IsZero() || c.ExpiresAt.Before(nearest):
			nearest, issuedAt = c.ExpiresAt, c.IssuedAt
		case c.ExpiresAt.Equal(nearest) && c.IssuedAt.After(issuedAt):
			issuedAt = c.IssuedAt
		}
	}
	if r.openCoupons > 0 {
		r.couponExpiring = int32(wholeDays(nearest.Sub(now)))
		r.couponIssued = int32(wholeDays(now.Sub(issuedAt)))
		r.flags |= hasCoupon
	}
}

// contactHistory sets last_contact_days and contacts_7d from the messages
// due by now.
func contactHistory(r *row, nowMs int64) {
	var last int64 = -1
	for _, m := range r.contactList() {
		if m.At > nowMs {
			break // sorted: the rest are planned, not yet sent
		}
		last = m.At
		if m.At > nowMs-7*dayMs {
			r.contacts7d++
		}
	}
	if last >= 0 {
		r.lastContact = int32(wholeDays(time.Duration(nowMs-last) * time.Millisecond))
		r.flags |= hasLastContact
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

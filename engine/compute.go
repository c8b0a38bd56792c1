package engine

import (
	"time"

	"github.com/koihq/koi/actions"
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

// baseProfile computes everything but RFM scores, which need the population.
// scratch is reused across calls by one worker to avoid allocations.
func baseProfile(c *Customer, evs []compactEvent, coupons []IssuedCoupon, types *typeTable, now time.Time, cfg ProfileConfig, scratch *[]order) Profile {
	p := Profile{
		ID: c.ID, Name: c.Name, Tier: c.Tier, Tags: c.Tags, Attrs: c.Attrs,
		Guide: c.Guide, Member: c.Member, Now: now, events: evs, types: types,
		JoinedDays: wholeDays(now.Sub(c.JoinedAt)),
	}
	if c.JoinedAt.IsZero() {
		p.JoinedDays = 0
	}
	nowMs := now.UnixMilli()
	rfmFrom := nowMs - cfg.RFMWindow.Milliseconds()
	periodFrom := nowMs - cfg.Period.Milliseconds()
	from90 := nowMs - 90*dayMs

	orders := (*scratch)[:0]
	var refunds []order
	var redeemed []uint64
	for _, e := range evs {
		if e.at > nowMs {
			break // events are sorted; later ones do not exist yet at now
		}
		switch e.typ {
		case typOrder:
			if findOrder(orders, e.ref) < 0 {
				orders = append(orders, order{ref: e.ref, at: e.at, amount: e.amount})
			}
		case typRefund:
			refunds = append(refunds, order{ref: e.ref, amount: e.amount})
		case typShare:
			if e.at > from90 {
				p.Shares90d++
			}
		case typReferral:
			p.Referrals++
			if e.at > periodFrom {
				p.facts.periodRefs++
			}
		case typCouponRedeem:
			redeemed = append(redeemed, e.ref)
		}
	}
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
		if o.at > rfmFrom {
			p.facts.rfmOrders++
			rfmSpend += net
		}
		if o.at > periodFrom {
			p.facts.periodOrd++
		}
	}
	*scratch = orders
	p.Spend = actions.FenToYuan(spend)
	p.Spend30d = actions.FenToYuan(spend30)
	p.Spend90d = actions.FenToYuan(spend90)
	p.Spend365d = actions.FenToYuan(spend365)
	if p.Orders > 0 {
		p.AOV = actions.FenToYuan(spend) / float64(p.Orders)
		r := wholeDays(time.Duration(nowMs-last) * time.Millisecond)
		p.RecencyDays = &r
		p.facts.everOrdered = true
	}
	if p.facts.rfmOrders > 0 {
		p.facts.rfmScored = true
		p.facts.rfmRecency = *p.RecencyDays
		p.facts.rfmSpend = rfmSpend
	}
	p.Lifecycle = lifecycle(c.Member, p.facts)
	openCoupons(&p, coupons, redeemed, now)
	p.BirthdayInDays = birthdayInDays(c.Birthday, now.In(cfg.Location))
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

// lifecycle applies DESIGN §2's stages, first match wins.
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

// openCoupons counts coupons issued by now, not expired and not redeemed.
func openCoupons(p *Profile, coupons []IssuedCoupon, redeemed []uint64, now time.Time) {
	var nearest time.Time
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
		if nearest.IsZero() || c.ExpiresAt.Before(nearest) {
			nearest = c.ExpiresAt
		}
	}
	if p.OpenCoupons > 0 {
		d := wholeDays(nearest.Sub(now))
		p.CouponExpiringDays = &d
	}
}

// birthdayInDays counts calendar days from today to the next birthday (0 on
// the day). A 29 February birthday falls on 1 March in other years.
func birthdayInDays(birthday string, today time.Time) *int {
	month, day, ok := parseBirthday(birthday)
	if !ok {
		return nil
	}
	t := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	next := time.Date(today.Year(), month, day, 0, 0, 0, 0, time.UTC)
	if next.Before(t) {
		next = time.Date(today.Year()+1, month, day, 0, 0, 0, 0, time.UTC)
	}
	d := int(next.Sub(t) / (24 * time.Hour))
	return &d
}

// parseBirthday accepts "MM-DD" and "YYYY-MM-DD".
func parseBirthday(s string) (time.Month, int, bool) {
	for _, layout := range []string{"2006-01-02", "01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Month(), t.Day(), true
		}
	}
	// time.Parse rejects 02-29 without a year; accept it explicitly.
	if s == "02-29" {
		return time.February, 29, true
	}
	return 0, 0, false
}

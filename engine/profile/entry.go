package profile

import (
	"slices"
	"time"

	"github.com/koihq/koi/actions"
)

// SetEntry gives p the attributes that count from the customer's entry
// into a journey at enteredAt, up to p.Now: entered_days (whole days),
// orders_since_entry and spend_since_entry (orders placed after entry,
// net of their refunds, a fully refunded one not counted, as orders and
// spend count them) and count_since_entry(type). The profile must have
// its events (one filled from a snapshot or a pond).
func (p *Profile) SetEntry(enteredAt time.Time) {
	days := wholeDays(p.Now.Sub(enteredAt))
	p.EnteredDays = &days
	p.entryMs = enteredAt.UnixMilli()
	nowMs := p.Now.UnixMilli()
	// Orders as orders and spend count them: an order id counts once, as
	// its earliest event (one before entry is not an order since entry,
	// even if it comes again after); a refund, whenever it came, counts
	// against its order; an order refunded in full is no order.
	type entryOrder struct {
		ref              uint32
		at               int64
		amount, refunded int64
	}
	var orders, refunds []entryOrder
	for k := range p.events {
		e := &p.events[k]
		if e.at() > nowMs {
			break
		}
		switch e.typ() {
		case typOrder:
			if !slices.ContainsFunc(orders, func(o entryOrder) bool { return o.ref == e.ref }) {
				orders = append(orders, entryOrder{ref: e.ref, at: e.at(), amount: e.amount()})
			}
		case typRefund:
			refunds = append(refunds, entryOrder{ref: e.ref, amount: e.amount()})
		}
	}
	var n int
	var spend int64
	for _, o := range orders {
		if o.at <= p.entryMs {
			continue
		}
		for _, rf := range refunds {
			if rf.ref == o.ref {
				o.refunded += rf.amount
			}
		}
		if o.refunded > 0 && o.refunded >= o.amount {
			continue
		}
		n++
		spend += o.amount - o.refunded
	}
	p.OrdersSinceEntry = n
	p.SpendSinceEntry = actions.FenToYuan(spend)
}

// CountSinceEntry counts the customer's events of a type since their
// entry into the journey, up to now. Expressions call it as
// count_since_entry(type); it is 0 on a profile outside a journey.
func (p *Profile) CountSinceEntry(typ string) int {
	if p.types == nil || p.EnteredDays == nil {
		return 0
	}
	id, ok := p.types.lookup(typ)
	if !ok {
		return 0
	}
	now := p.Now.UnixMilli()
	n := 0
	for k := range p.events {
		e := &p.events[k]
		if e.at() > now {
			break
		}
		if e.at() > p.entryMs && e.typ() == id {
			n++
		}
	}
	return n
}

package profile

import (
	"math"
	"time"
)

// EventSummary is an event as the pond keeps it: enough for a customer's
// history, not the whole stored event.
type EventSummary struct {
	Type   string    `json:"type"`
	At     time.Time `json:"at"`
	Amount float64   `json:"amount,omitempty"`
}

// RecentEvents returns up to n of customer i's latest events, newest first.
func (p *Pond) RecentEvents(i, n int) []EventSummary {
	evs := p.events[i]
	out := make([]EventSummary, 0, min(n, len(evs)))
	for k := len(evs) - 1; k >= 0 && len(out) < n; k-- {
		e := &evs[k]
		name := p.types.name(e.typ())
		out = append(out, EventSummary{Type: name, At: time.UnixMilli(e.at()).UTC(), Amount: float64(e.amount()) / 100})
	}
	return out
}

// Redeemed reports whether customer i redeemed the coupon with code by at.
func (p *Pond) Redeemed(i int, code string, at time.Time) bool {
	h, until := refKey(hashString(code)), at.UnixMilli()
	for k := range p.events[i] {
		e := &p.events[i][k]
		if e.typ() == typCouponRedeem && e.ref == h && e.at() <= until {
			return true
		}
	}
	return false
}

// RemoveCustomer forgets a deleted customer. Its slot stays, so indexes
// held by snapshots stay valid, but it is emptied and joins at the end of
// time: no profile, audience or count sees it again.
func (p *Pond) RemoveCustomer(id string) {
	i, ok := p.index.get(p.Customers, id)
	if !ok {
		return
	}
	// The record without an id takes the customer out of the index.
	p.Customers[i] = &PondCustomer{joined: true, joinedMs: math.MaxInt64 / 2}
	p.removed++
	if k := p.extraAt[i]; k != 0 {
		p.extras[k-1] = extras{} // the slot stays unused; its lists can go
	}
	p.events[i], p.extraAt[i], p.birthdays[i] = nil, 0, 0
}

// OrdersIn counts customer i's orders placed in (from, to] and their net
// value in fen: refunds stored by asOf are taken off the orders they
// refund, and an order refunded in full does not count.
func (p *Pond) OrdersIn(i int, from, to, asOf int64) (n int, netFen int64) {
	evs := p.events[i]
	type ord struct {
		ref    uint32
		amount int64
	}
	var orders []ord
	for k := range evs {
		e := &evs[k]
		if e.typ() == typOrder && e.at() > from && e.at() <= to && e.at() <= asOf {
			dup := false
			for _, o := range orders {
				dup = dup || o.ref == e.ref
			}
			if !dup {
				orders = append(orders, ord{e.ref, e.amount()})
			}
		}
	}
	if len(orders) == 0 {
		return 0, 0
	}
	for k := range evs {
		e := &evs[k]
		if e.typ() != typRefund || e.at() > asOf {
			continue
		}
		for k := range orders {
			if orders[k].ref == e.ref {
				orders[k].amount -= e.amount()
			}
		}
	}
	for _, o := range orders {
		if o.amount > 0 {
			n++
			netFen += o.amount
		}
	}
	return n, netFen
}

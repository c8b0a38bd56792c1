package engine

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

// recentEvents returns up to n of customer i's latest events, newest first.
func (p *Pond) recentEvents(i, n int) []EventSummary {
	evs := p.events[i]
	out := make([]EventSummary, 0, min(n, len(evs)))
	for k := len(evs) - 1; k >= 0 && len(out) < n; k-- {
		e := &evs[k]
		name := ""
		if t := int(e.typ()); t < len(p.types.names) {
			name = p.types.names[t]
		}
		out = append(out, EventSummary{Type: name, At: time.UnixMilli(e.at).UTC(), Amount: float64(e.amount()) / 100})
	}
	return out
}

// redeemed reports whether customer i redeemed the coupon with code by at.
func (p *Pond) redeemed(i int, code string, at time.Time) bool {
	h, until := hashString(code), at.UnixMilli()
	for k := range p.events[i] {
		e := &p.events[i][k]
		if e.typ() == typCouponRedeem && e.ref == h && e.at <= until {
			return true
		}
	}
	return false
}

// removeCustomer forgets a deleted customer. Its slot stays, so indexes
// held by snapshots stay valid, but it is emptied and joins at the end of
// time: no profile, audience or count sees it again.
func (p *Pond) removeCustomer(id string) {
	i, ok := p.index[id]
	if !ok {
		return
	}
	delete(p.index, id)
	p.Customers[i] = PondCustomer{JoinedAt: time.UnixMilli(math.MaxInt64 / 2)}
	p.events[i], p.coupons[i], p.contacts[i], p.birthdays[i] = nil, nil, nil, 0
}

package profile

import (
	"cmp"
	"slices"
)

// MergeCustomer makes customer gone part of survivor, as a merge in the
// store does (DESIGN §11): gone's events, coupons and messages join
// survivor's, and gone's slot empties as RemoveCustomer's does. The
// survivor's record is the caller's to put (PutCustomer) with what the
// store made of it. It reports false when either is not in the pond.
//
// Everything is built anew rather than appended in place: a snapshot
// being evaluated may still read the old arrays.
func (p *Pond) MergeCustomer(survivor, gone string) bool {
	i, ok := p.index.get(p.Customers, survivor)
	j, ok2 := p.index.get(p.Customers, gone)
	if !ok || !ok2 || i == j {
		return false
	}
	a, b := p.events[i], p.events[j]
	evs := make([]compactEvent, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if byTimeThenValue(b[0], a[0]) < 0 {
			evs, b = append(evs, b[0]), b[1:]
		} else {
			evs, a = append(evs, a[0]), a[1:]
		}
	}
	p.events[i] = append(append(evs, a...), b...)
	if cs, ms := p.couponsOf(j), p.contactsOf(j); len(cs) > 0 || len(ms) > 0 {
		ex := p.extrasOf(i)
		ex.coupons = slices.Concat(ex.coupons, cs)
		contacts := slices.Concat(ex.contacts, ms)
		slices.SortStableFunc(contacts, func(x, y ContactMark) int { return cmp.Compare(x.At, y.At) })
		ex.contacts = contacts
	}
	p.RemoveCustomer(gone)
	return true
}

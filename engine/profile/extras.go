package profile

import "github.com/koihq/koi/engine/domain"

// extras are a customer's coupons and messages. Most customers of a pond
// have neither, so the pond keeps them only for those who do (see
// Pond.extraAt): two slice headers for every customer took 48 MB at a
// million customers.
type extras struct {
	coupons  []domain.IssuedCoupon
	contacts []ContactMark // by time
}

// couponsOf returns customer i's coupons.
func (p *Pond) couponsOf(i int) []domain.IssuedCoupon {
	if k := p.extraAt[i]; k != 0 {
		return p.extras[k-1].coupons
	}
	return nil
}

// contactsOf returns customer i's messages, by time.
func (p *Pond) contactsOf(i int) []ContactMark {
	if k := p.extraAt[i]; k != 0 {
		return p.extras[k-1].contacts
	}
	return nil
}

// extrasOf returns customer i's extras to change, making them first when
// the customer has none. The caller holds the pond still.
func (p *Pond) extrasOf(i int) *extras {
	if p.extraAt[i] == 0 {
		p.extras = append(p.extras, extras{})
		p.extraAt[i] = int32(len(p.extras))
	}
	return &p.extras[p.extraAt[i]-1]
}

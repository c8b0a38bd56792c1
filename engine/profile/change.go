package profile

import (
	"time"

	"github.com/koihq/koi/engine/domain"
)

// Change is a committed change to a customer that the in-memory pond must
// reflect, so later playbooks (and later runs) see it. One of its fields
// besides Cust is set.
type Change struct {
	// Cust is the customer's pond index.
	Cust    int
	Tier    *string
	Tags    *[]string
	Guide   *string
	Coupon  *domain.IssuedCoupon
	Contact *ContactMark
}

// Apply makes changes to the pond. The caller holds the pond still;
// snapshots already computed see a change once they refresh the
// customers it changed.
func (p *Pond) Apply(changes []Change) {
	for _, m := range changes {
		switch {
		case m.Tier != nil:
			p.Update(m.Cust, func(c *PondCustomer) { c.SetTier(*m.Tier) })
		case m.Tags != nil:
			p.Update(m.Cust, func(c *PondCustomer) { c.SetTags(*m.Tags) })
		case m.Guide != nil:
			p.Update(m.Cust, func(c *PondCustomer) { c.SetGuide(*m.Guide) })
		case m.Coupon != nil:
			p.AddCoupon(m.Cust, *m.Coupon)
		case m.Contact != nil:
			p.AddContact(m.Cust, time.UnixMilli(m.Contact.At), m.Contact.Channel)
		}
	}
}

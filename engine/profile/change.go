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

// VisibleTo reports whether the change can alter what an evaluation sees
// that reads only the expression names reads says it reads (a playbook's
// conditions: evaluate.ReadsFunc). A run's next playbook, evaluated ahead
// while this one wrote, is evaluated again only for the customers whose
// changes it can see (engine/lookahead.go). A message is always visible:
// besides last_contact_days and contacts_7d, the contact policy's caps
// read the history.
func (m Change) VisibleTo(reads func(name string) bool) bool {
	switch {
	case m.Tier != nil:
		return reads("tier")
	case m.Tags != nil:
		return reads("tags") || reads("has_tag")
	case m.Guide != nil:
		return reads("guide")
	case m.Coupon != nil:
		return reads("open_coupons") || reads("coupon_expiring_days") || reads("coupon_expiring_issued_days")
	}
	return true
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

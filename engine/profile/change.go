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

// ChangeKind says what a Change changes.
type ChangeKind uint8

// The kinds of change.
const (
	ChangedTier ChangeKind = iota + 1
	ChangedTags
	ChangedGuide
	ChangedCoupons
	ChangedContacts
)

// Kind returns what the change changes.
func (m Change) Kind() ChangeKind {
	switch {
	case m.Tier != nil:
		return ChangedTier
	case m.Tags != nil:
		return ChangedTags
	case m.Guide != nil:
		return ChangedGuide
	case m.Coupon != nil:
		return ChangedCoupons
	}
	return ChangedContacts
}

// Touch is what a run keeps of a change until the next playbook has
// settled: whom it changed, and what.
type Touch struct {
	Cust int32
	Kind ChangeKind
}

// VisibleTo reports whether the change can alter what an evaluation sees
// that reads only the expression names reads says it reads (a playbook's
// conditions: evaluate.ReadsFunc). A run's next playbook, evaluated ahead
// while this one wrote, is evaluated again only for the customers whose
// changes it can see (engine/lookahead.go).
func (m Change) VisibleTo(reads func(name string) bool) bool { return m.Kind().VisibleTo(reads) }

// VisibleTo reports whether a change of kind k can alter what an
// evaluation sees that reads only the names reads says it reads. A message
// is always visible: besides last_contact_days and contacts_7d, the
// contact policy's caps read the history.
func (k ChangeKind) VisibleTo(reads func(name string) bool) bool {
	switch k {
	case ChangedTier:
		return reads("tier")
	case ChangedTags:
		return reads("tags") || reads("has_tag")
	case ChangedGuide:
		return reads("guide")
	case ChangedCoupons:
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

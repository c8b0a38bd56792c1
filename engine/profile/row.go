package profile

import (
	"time"
	"unsafe"

	"github.com/koihq/koi/actions"
)

// row is a customer's profile as a snapshot keeps it: the customer's
// record and event lists as they were when it was computed, and the
// numbers computed from them in their narrowest form. A Profile is filled
// from it when an expression or a caller needs one (Snapshot.Fill). At a
// million customers rows take 170 MB where whole profiles took 500 MB,
// and a run reads a third of the memory.
type row struct {
	cust *PondCustomer // never changed in place: see Pond.Customers
	// The customer's events and messages as they were, kept as pointer and
	// length (eventList, contactList): slice headers took 16 bytes more
	// each, 32 MB at a million customers. The pond never writes over what
	// a row points to: it appends past the end or copies.
	events             *compactEvent
	contacts           *ContactMark
	nEvents, nContacts int32

	spend, spend30, spend90, spend365 int64 // fen
	rfmSpend                          int64 // fen in the RFM window

	joinedDays                            int32
	orders, orders30, orders90, orders365 int32
	rfmOrders                             int32 // orders in the RFM window
	shares90, referrals                   int32
	contacts7d, openCoupons               int32
	// Valid when their flag is set; nil in the profile otherwise.
	recency, lastContact, couponExpiring, couponIssued, birthdayIn int32

	r, f, m   uint8
	segment   uint8 // 1 + index into Segments; 0 for none
	lifecycle uint8 // index into Stages
	flags     uint8
}

func newRow(c *PondCustomer, events []compactEvent, contacts []ContactMark) row {
	return row{cust: c, events: unsafe.SliceData(events), nEvents: int32(len(events)),
		contacts: unsafe.SliceData(contacts), nContacts: int32(len(contacts))}
}

func (r *row) eventList() []compactEvent { return unsafe.Slice(r.events, r.nEvents) }

func (r *row) contactList() []ContactMark { return unsafe.Slice(r.contacts, r.nContacts) }

// row flags.
const (
	hasRecency uint8 = 1 << iota
	hasLastContact
	hasCoupon
	hasBirthday
	rfmScored // ordered in the RFM window: scored against the population
)

// Stage indexes into Stages.
const (
	stageKOC uint8 = iota
	stageRepeat
	stagePurchased
	stageMember
	stageBasic
)

// fill writes the profile of r at now into p, its nil-able numbers
// pointing into slots (slotsPer of them). It leaves p.Attrs nil: the
// caller makes the map when its user may read it.
//
// It sets every field of p one by one: a Profile literal assigned through
// p was built aside and copied over, a quarter of the time of a fill,
// which an evaluation pays once per customer and playbook.
// TestFillSetsEveryField catches a field left over from the customer
// filled before.
func (r *row) fill(p *Profile, now time.Time, types *typeTable, slots []int) {
	c := r.cust
	p.ID, p.Name, p.Tier, p.Tags = c.ID, c.Name, c.Tier(), c.Tags()
	p.Attrs, p.attrList = nil, c.Attrs
	p.Guide, p.Member, p.Now = c.Guide(), c.Member, now
	p.JoinedDays = int(r.joinedDays)
	p.Orders, p.Orders30d, p.Orders90d, p.Orders365d = int(r.orders), int(r.orders30), int(r.orders90), int(r.orders365)
	p.Spend, p.Spend30d = actions.FenToYuan(r.spend), actions.FenToYuan(r.spend30)
	p.Spend90d, p.Spend365d = actions.FenToYuan(r.spend90), actions.FenToYuan(r.spend365)
	p.AOV = 0
	if r.orders > 0 {
		p.AOV = p.Spend / float64(r.orders)
	}
	p.RFM = RFM{R: int(r.r), F: int(r.f), M: int(r.m)}
	if r.segment > 0 {
		p.RFM.Segment = Segments[r.segment-1]
	}
	p.Lifecycle = Stages[r.lifecycle]
	p.Shares90d, p.Referrals = int(r.shares90), int(r.referrals)
	p.Contacts7d, p.OpenCoupons = int(r.contacts7d), int(r.openCoupons)
	p.events, p.contacts, p.optOut, p.types = r.eventList(), r.contactList(), c.OptOut(), types
	p.memo = nil
	p.EnteredDays, p.OrdersSinceEntry, p.SpendSinceEntry, p.entryMs = nil, 0, 0, 0
	set := func(flag uint8, slot int, v int32) *int {
		if r.flags&flag == 0 {
			return nil
		}
		slots[slot] = int(v)
		return &slots[slot]
	}
	p.RecencyDays = set(hasRecency, 0, r.recency)
	p.CouponExpiringDays = set(hasCoupon, 1, r.couponExpiring)
	p.BirthdayInDays = set(hasBirthday, 2, r.birthdayIn)
	p.LastContactDays = set(hasLastContact, 3, r.lastContact)
	p.CouponExpiringIssuedDays = set(hasCoupon, 4, r.couponIssued)
}

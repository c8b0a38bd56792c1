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
func (r *row) fill(p *Profile, now time.Time, types *typeTable, slots []int) {
	c := r.cust
	*p = Profile{
		ID: c.ID, Name: c.Name, Tier: c.Tier(), Tags: c.Tags(), attrList: c.Attrs,
		Guide: c.Guide(), Member: c.Member, Now: now,
		JoinedDays: int(r.joinedDays),
		Orders:     int(r.orders), Orders30d: int(r.orders30), Orders90d: int(r.orders90), Orders365d: int(r.orders365),
		Spend: actions.FenToYuan(r.spend), Spend30d: actions.FenToYuan(r.spend30),
		Spend90d: actions.FenToYuan(r.spend90), Spend365d: actions.FenToYuan(r.spend365),
		Lifecycle:   Stages[r.lifecycle],
		Shares90d:   int(r.shares90),
		Referrals:   int(r.referrals),
		Contacts7d:  int(r.contacts7d),
		OpenCoupons: int(r.openCoupons),
		RFM:         RFM{R: int(r.r), F: int(r.f), M: int(r.m)},
		events:      r.eventList(), contacts: r.contactList(), optOut: c.OptOut(), types: types,
	}
	if r.segment > 0 {
		p.RFM.Segment = Segments[r.segment-1]
	}
	if r.orders > 0 {
		p.AOV = p.Spend / float64(r.orders)
	}
	set := func(flag uint8, slot int, v int32, dst **int) {
		if r.flags&flag != 0 {
			slots[slot] = int(v)
			*dst = &slots[slot]
		}
	}
	set(hasRecency, 0, r.recency, &p.RecencyDays)
	set(hasCoupon, 1, r.couponExpiring, &p.CouponExpiringDays)
	set(hasBirthday, 2, r.birthdayIn, &p.BirthdayInDays)
	set(hasLastContact, 3, r.lastContact, &p.LastContactDays)
	set(hasCoupon, 4, r.couponIssued, &p.CouponExpiringIssuedDays)
}

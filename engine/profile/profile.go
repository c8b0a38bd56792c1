package profile

import (
	"slices"
	"time"
)

// Profile is what the engine derives from a customer and their events at a
// moment `now`. It is the environment playbook expressions run on; the
// `expr` tags are the attribute names playbooks use. Money is in yuan.
type Profile struct {
	ID     string         `expr:"id" sample:"sample"`
	Name   string         `expr:"name" sample:"示例客户"`
	Tier   string         `expr:"tier" sample:"normal"`
	Tags   []string       `expr:"tags" sample:"sample"`
	Attrs  map[string]any `expr:"attrs"`
	Guide  string         `expr:"guide" sample:"guide"`
	Member bool           `expr:"member" sample:"true"`

	JoinedDays int `expr:"joined_days" sample:"400"`
	// RecencyDays is nil when the customer never ordered.
	RecencyDays *int    `expr:"recency_days" sample:"30"`
	Orders      int     `expr:"orders" sample:"3"`
	Spend       float64 `expr:"spend" sample:"600"`
	AOV         float64 `expr:"aov" sample:"200"`
	Orders30d   int     `expr:"orders_30d" sample:"1"`
	Orders90d   int     `expr:"orders_90d" sample:"2"`
	Orders365d  int     `expr:"orders_365d" sample:"3"`
	Spend30d    float64 `expr:"spend_30d" sample:"200"`
	Spend90d    float64 `expr:"spend_90d" sample:"400"`
	Spend365d   float64 `expr:"spend_365d" sample:"600"`

	RFM       RFM    `expr:"rfm"`
	Lifecycle string `expr:"lifecycle" sample:"repeat"`

	Shares90d int `expr:"shares_90d" sample:"1"`
	Referrals int `expr:"referrals" sample:"1"`

	// LastContactDays is whole days since the last message that was due by
	// now; nil when the customer was never messaged.
	LastContactDays *int `expr:"last_contact_days" sample:"5"`
	// Contacts7d counts messages due in the last 7 days.
	Contacts7d int `expr:"contacts_7d" sample:"1"`

	OpenCoupons int `expr:"open_coupons" sample:"1"`
	// CouponExpiringDays is nil when no coupon is open.
	CouponExpiringDays *int `expr:"coupon_expiring_days" sample:"3"`
	// CouponExpiringIssuedDays is whole days since the coupon nearest to
	// expiry was issued (the youngest, when several expire together); nil
	// when no coupon is open. It keeps an expiry reminder from following
	// the coupon's issue within minutes.
	CouponExpiringIssuedDays *int `expr:"coupon_expiring_issued_days" sample:"4"`
	// BirthdayInDays is nil when the birthday is unknown.
	BirthdayInDays *int `expr:"birthday_in_days" sample:"10"`

	// The attributes since the customer's entry into a journey: only a
	// journey's exit_when and steps' when read them (rules refuses them
	// elsewhere), on a profile SetEntry gave them to. EnteredDays is whole
	// days since entry, nil on a profile outside a journey.
	EnteredDays      *int    `expr:"entered_days" sample:"3" values:"-"`
	OrdersSinceEntry int     `expr:"orders_since_entry" sample:"0" values:"-"`
	SpendSinceEntry  float64 `expr:"spend_since_entry" sample:"0" values:"-"`

	Now time.Time `expr:"now" values:"-"`

	// events backs count(); nil for profiles built outside a pond.
	events []compactEvent
	// contacts are the customer's messages as of the snapshot, for the
	// frequency caps; optOut the channels they opted out of.
	contacts []ContactMark
	optOut   []string
	types    *typeTable
	// attrList holds the customer's attrs as the pond keeps them; Attrs
	// is made from it when the profile's user reads it (Snapshot.Fill).
	// (A field named attrs would shadow Attrs in expressions.)
	attrList AttrList
	// memo is the filling worker's memory of count()'s arguments; nil for
	// a profile filled on its own.
	memo *countMemo
	// entryMs is when the customer entered the journey the profile is
	// evaluated for (unix ms); 0 outside one (SetEntry).
	entryMs int64
}

// Attr returns the value of the customer's attr key (nil when unset),
// whether or not the profile's Attrs map was filled.
func (p *Profile) Attr(key string) any {
	if p.Attrs != nil {
		return p.Attrs[key]
	}
	v, _ := p.attrList.Get(key)
	return v
}

// RFM holds the quintile scores and segment of a customer.
type RFM struct {
	R       int    `expr:"r" sample:"3" json:"r"`
	F       int    `expr:"f" sample:"3" json:"f"`
	M       int    `expr:"m" sample:"3" json:"m"`
	Segment string `expr:"segment" sample:"important_value" json:"segment"`
}

// The eight classic RFM segments.
const (
	SegImportantValue   = "important_value"   // 重要价值: R high, F high, M high
	SegImportantDevelop = "important_develop" // 重要发展: R high, F low, M high
	SegImportantRetain  = "important_retain"  // 重要保持: R low, F high, M high
	SegImportantWinback = "important_winback" // 重要挽留: R low, F low, M high
	SegGeneralValue     = "general_value"     // 一般价值: R high, F high, M low
	SegGeneralDevelop   = "general_develop"   // 一般发展: R high, F low, M low
	SegGeneralRetain    = "general_retain"    // 一般保持: R low, F high, M low
	SegGeneralWinback   = "general_winback"   // 一般挽留: R low, F low, M low
)

// Segments lists the eight segments, important first.
var Segments = []string{
	SegImportantValue, SegImportantDevelop, SegImportantRetain, SegImportantWinback,
	SegGeneralValue, SegGeneralDevelop, SegGeneralRetain, SegGeneralWinback,
}

// Lifecycle stages, deepest first.
const (
	StageKOC       = "koc"       // 品牌KOC
	StageRepeat    = "repeat"    // 复购会员
	StagePurchased = "purchased" // 已购会员
	StageMember    = "member"    // 未购会员
	StageBasic     = "basic"     // 基础用户
)

// Stages lists the lifecycle stages, deepest first.
var Stages = []string{StageKOC, StageRepeat, StagePurchased, StageMember, StageBasic}

// EventsIn counts the customer's events after from and up to to (unix
// ms), the window orders_30d and the like count in: all of them, and the
// referrals among them.
func (p *Profile) EventsIn(from, to int64) (all, referrals int) {
	for k := range p.events {
		e := &p.events[k]
		at := e.at()
		if at > to {
			break
		}
		if at > from {
			all++
			if e.typ() == typReferral {
				referrals++
			}
		}
	}
	return all, referrals
}

// HasTag reports whether the customer has tag t. Expressions call it as has_tag(t).
func (p *Profile) HasTag(t string) bool { return slices.Contains(p.Tags, t) }

// CountEvents counts the customer's events of a type in a window ending now,
// like count("visit", "7d"). Expressions call it as count(type, window).
func (p *Profile) CountEvents(typ, window string) int {
	if p.types == nil {
		return 0
	}
	id, ms, ok := p.memo.countArgs(p.types, typ, window)
	if !ok {
		return 0
	}
	now := p.Now.UnixMilli()
	from := now - ms
	n := 0
	for k := range p.events {
		e := &p.events[k]
		if e.at() > now {
			break
		}
		if e.at() > from && e.typ() == id {
			n++
		}
	}
	return n
}

package profile

// Values returns the profile as attribute names and values, the shape of
// `koi export` and of message templates. Nil attributes stay nil.
func (p *Profile) Values() map[string]any {
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	attrs := p.Attrs
	if attrs == nil {
		attrs = map[string]any{}
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "tier": p.Tier, "tags": tags, "attrs": attrs,
		"guide": p.Guide, "member": p.Member,
		"joined_days":  p.JoinedDays,
		"recency_days": intOrNil(p.RecencyDays),
		"orders":       p.Orders, "spend": p.Spend, "aov": p.AOV,
		"orders_30d": p.Orders30d, "orders_90d": p.Orders90d, "orders_365d": p.Orders365d,
		"spend_30d": p.Spend30d, "spend_90d": p.Spend90d, "spend_365d": p.Spend365d,
		"rfm":                         map[string]any{"r": p.RFM.R, "f": p.RFM.F, "m": p.RFM.M, "segment": p.RFM.Segment},
		"lifecycle":                   p.Lifecycle,
		"shares_90d":                  p.Shares90d,
		"referrals":                   p.Referrals,
		"last_contact_days":           intOrNil(p.LastContactDays),
		"contacts_7d":                 p.Contacts7d,
		"open_coupons":                p.OpenCoupons,
		"coupon_expiring_days":        intOrNil(p.CouponExpiringDays),
		"coupon_expiring_issued_days": intOrNil(p.CouponExpiringIssuedDays),
		"birthday_in_days":            intOrNil(p.BirthdayInDays),
	}
}

// ValueNames lists the attribute names of Values in export order.
var ValueNames = []string{
	"id", "name", "tier", "tags", "attrs", "guide", "member", "joined_days",
	"recency_days", "orders", "spend", "aov", "orders_30d", "orders_90d", "orders_365d",
	"spend_30d", "spend_90d", "spend_365d", "rfm", "lifecycle", "shares_90d", "referrals",
	"last_contact_days", "contacts_7d", "open_coupons", "coupon_expiring_days", "coupon_expiring_issued_days", "birthday_in_days",
}

func intOrNil(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// SampleValues returns the values of a made-up profile with every
// attribute set, for checking templates when a playbook loads.
func SampleValues() map[string]any {
	days := func(n int) *int { return &n }
	p := &Profile{
		ID: "sample", Name: "示例客户", Tier: "normal", Tags: []string{"sample"}, Guide: "guide", Member: true,
		JoinedDays: 400, RecencyDays: days(30), Orders: 3, Spend: 600, AOV: 200,
		Orders30d: 1, Orders90d: 2, Orders365d: 3, Spend30d: 200, Spend90d: 400, Spend365d: 600,
		RFM: RFM{R: 3, F: 3, M: 3, Segment: "important_value"}, Lifecycle: "repeat",
		Shares90d: 1, Referrals: 1, LastContactDays: days(5), Contacts7d: 1, OpenCoupons: 1, CouponExpiringDays: days(3), CouponExpiringIssuedDays: days(4), BirthdayInDays: days(10),
	}
	return p.Values()
}

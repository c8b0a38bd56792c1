package profile

import (
	"reflect"
	"slices"
	"testing"
)

// The attribute lists come from Profile's tags; these are the names
// exports and templates have always had, in their order.
func TestValueNamesFollowTheProfileTags(t *testing.T) {
	want := []string{
		"id", "name", "tier", "tags", "attrs", "guide", "member", "joined_days",
		"recency_days", "orders", "spend", "aov", "orders_30d", "orders_90d", "orders_365d",
		"spend_30d", "spend_90d", "spend_365d", "rfm", "lifecycle", "shares_90d", "referrals",
		"last_contact_days", "contacts_7d", "open_coupons", "coupon_expiring_days", "coupon_expiring_issued_days", "birthday_in_days",
	}
	if !slices.Equal(ValueNames, want) {
		t.Errorf("ValueNames = %v\nwant %v", ValueNames, want)
	}
}

// Every attribute has a sample value, so a template naming a new
// attribute is checked against something when its playbook loads.
func TestSampleValuesSetEveryAttribute(t *testing.T) {
	v := SampleValues()
	for _, name := range ValueNames {
		if v[name] == nil || reflect.ValueOf(v[name]).IsZero() && name != "attrs" {
			t.Errorf("sample %s = %#v: give the Profile field a sample tag", name, v[name])
		}
	}
	if got := v["rfm"].(map[string]any)["segment"]; got != "important_value" {
		t.Errorf("sample rfm.segment = %v", got)
	}
}

// Values keeps nil attributes nil, unwraps the others, and never hands a
// template nil tags or attrs.
func TestValuesShape(t *testing.T) {
	days := 3
	p := &Profile{ID: "c1", Orders: 2, Spend: 12.5, CouponExpiringDays: &days, RFM: RFM{R: 5, Segment: "x"}}
	v := p.Values()
	want := map[string]any{"id": "c1", "orders": 2, "spend": 12.5, "coupon_expiring_days": 3, "recency_days": nil,
		"tags": []string{}, "attrs": map[string]any{}, "rfm": map[string]any{"r": 5, "f": 0, "m": 0, "segment": "x"}}
	for k, w := range want {
		if !reflect.DeepEqual(v[k], w) {
			t.Errorf("%s = %#v, want %#v", k, v[k], w)
		}
	}
	if _, ok := v["now"]; ok || len(v) != len(ValueNames) {
		t.Errorf("values have %d keys (now: %v), want the %d of ValueNames", len(v), ok, len(ValueNames))
	}
}

func BenchmarkValues(b *testing.B) {
	p := sampleProfile()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Values()
	}
}

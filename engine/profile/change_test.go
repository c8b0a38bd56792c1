package profile_test

import (
	"slices"
	"testing"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// A change is visible to a playbook that reads what it alters, and a
// message to every playbook (the contact policy reads the history).
func TestChangesAreVisibleToWhatReadsThem(t *testing.T) {
	tier, guide := "gold", "g1"
	tags := []string{"x"}
	changes := map[string]profile.Change{
		"tier": {Tier: &tier}, "tags": {Tags: &tags}, "guide": {Guide: &guide},
		"coupon": {Coupon: &domain.IssuedCoupon{}}, "message": {Contact: &profile.ContactMark{}},
	}
	for _, tc := range []struct {
		src     string
		visible []string
	}{
		{`orders > 1`, []string{"message"}},
		{`tier == "gold"`, []string{"tier", "message"}},
		{`has_tag("x")`, []string{"tags", "message"}},
		{`len(tags) > 1`, []string{"tags", "message"}},
		{`guide == ""`, []string{"guide", "message"}},
		{`open_coupons > 0`, []string{"coupon", "message"}},
		{`coupon_expiring_days <= 3`, []string{"coupon", "message"}},
		{`coupon_expiring_issued_days >= 1`, []string{"coupon", "message"}},
		{`$env.orders > 1`, []string{"tier", "tags", "guide", "coupon", "message"}},
		// expr lets a condition call the profile's methods: Values() reads
		// every attribute.
		{`Values().tier == "gold"`, []string{"tier", "tags", "guide", "coupon", "message"}},
	} {
		c, err := rules.CompileExpr(tc.src, profile.ExprEnv())
		if err != nil {
			t.Fatal(err)
		}
		for kind, ch := range changes {
			if got, want := ch.VisibleTo(c.Reads), slices.Contains(tc.visible, kind); got != want {
				t.Errorf("%s: a %s change visible %v, want %v", tc.src, kind, got, want)
			}
		}
	}
}

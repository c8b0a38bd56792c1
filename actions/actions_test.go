package actions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/actionstest"
	"github.com/koihq/koi/actions/coupon"
	"github.com/koihq/koi/actions/settier"
	"github.com/koihq/koi/actions/tag"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := actions.ParseDuration(in); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "7 days", "-3d", "d", "1.5d"} {
		if _, err := actions.ParseDuration(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestYuanFen(t *testing.T) {
	if got := actions.YuanToFen(199.9); got != 19990 {
		t.Errorf("199.9 yuan = %d fen", got)
	}
	if got := actions.FenToYuan(19990); got != 199.9 {
		t.Errorf("19990 fen = %v yuan", got)
	}
}

func TestCouponValidation(t *testing.T) {
	bad := []*coupon.Coupon{
		{Amount: -5, ExpiresIn: actions.Duration(time.Hour)},
		{Amount: 0.001, ExpiresIn: actions.Duration(time.Hour)},
		{Amount: 5, MinSpend: -1, ExpiresIn: actions.Duration(time.Hour)},
		{Amount: 5},
	}
	fields := []string{"amount", "amount", "min_spend", "expires_in"}
	for i, c := range bad {
		err := c.Validate(actions.LoadContext{})
		var fe *actions.FieldError
		if !errors.As(err, &fe) || fe.Field != fields[i] {
			t.Errorf("%+v: error %v, want one naming %s", c, err, fields[i])
		}
	}
	if err := (&coupon.Coupon{Amount: 20, ExpiresIn: actions.Duration(time.Hour)}).Validate(actions.LoadContext{}); err != nil {
		t.Error(err)
	}
}

func TestCouponCodesAreStablePerFireAndAction(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &coupon.Coupon{Amount: 20, MinSpend: 99.5, ExpiresIn: actions.Duration(48 * time.Hour)}
	fx := actionstest.NewEffects()
	f := &actions.Fire{Playbook: "pb", Rule: "r", Key: "pb/r/c1/1", CustomerID: "c1", At: at}
	res, err := c.Do(context.Background(), f, fx)
	if err != nil {
		t.Fatal(err)
	}
	got := fx.Coupons[0]
	if got.AmountFen != 2000 || got.MinSpendFen != 9950 || !got.ExpiresAt.Equal(at.Add(48*time.Hour)) || res["code"] != got.Code {
		t.Errorf("coupon %+v result %v", got, res)
	}
	code := func(playbook, rule, key string, index int, at time.Time) string {
		return coupon.Code(&actions.Fire{Playbook: playbook, Rule: rule, Key: key, Index: index, At: at})
	}
	if code("pb", "r", "pb/r/c1/1", 0, at) != got.Code || code("pb", "r", "pb/r/c1/1", 0, at.Add(23*time.Hour)) != got.Code {
		t.Error("a fire's code must be the same all day")
	}
	// And the same from one version of koi to the next: a fire retried
	// after an upgrade must meet the code it minted before.
	if got.Code != "K34AGD9HJTG35JLHH2KB2" {
		t.Errorf("the code of pb/r/c1/1 on 2026-01-01 is %s, was K34AGD9HJTG35JLHH2KB2", got.Code)
	}
	if code("pb", "r", "pb/r/c1/1", 1, at) == got.Code || code("pb", "r", "pb/r/c1/2", 0, at) == got.Code {
		t.Error("codes must differ per fire and action")
	}
	// A day's codes sort together, after the day before's, and within the
	// day a rule's sort together: a batch of one playbook's fires lands on
	// the index pages of its own rules, whatever their hashes.
	for k := range 50 {
		key := fmt.Sprintf("pb/r/c%d/1", k)
		a := code("pb", "r", key, 0, at)
		if b := code("x", "y", "x", 0, at.Add(24*time.Hour)); a >= b || len(a) != 21 {
			t.Fatalf("%s's code %s does not sort before the next day's %s", key, a, b)
		}
		// Day and rule are the first 24 bits: the first four characters
		// after the K carry 20 of them.
		if other := code("pb", "other", fmt.Sprintf("pb/other/c%d/1", k), 0, at); a[:5] != got.Code[:5] || other[:5] == a[:5] {
			t.Fatalf("codes %s and %s of one rule and day must share a prefix that %s of another rule does not", a, got.Code, other)
		}
	}
}

func TestSetTierAndTag(t *testing.T) {
	st := &settier.SetTier{}
	if err := st.DecodeScalar("gold"); err != nil {
		t.Fatal(err)
	}
	if err := st.Validate(actions.LoadContext{Tiers: []string{"normal", "vip"}}); err == nil || !strings.Contains(err.Error(), `unknown tier "gold"`) {
		t.Errorf("unknown tier: %v", err)
	}
	fx := actionstest.NewEffects()
	if _, err := st.Do(context.Background(), &actions.Fire{CustomerID: "c"}, fx); err != nil || fx.Tiers["c"] != "gold" {
		t.Errorf("tier %q, %v", fx.Tiers["c"], err)
	}
	if err := (&tag.Tag{Add: []string{"a"}, Remove: []string{"a"}}).Validate(actions.LoadContext{}); err == nil {
		t.Error("adding and removing the same tag validated")
	}
	if err := (&tag.Tag{}).Validate(actions.LoadContext{}); err == nil {
		t.Error("an empty tag action validated")
	}
}

// An action whose result nobody reads still does its work, and skips
// building the result; otherwise the result is there.
func TestUnreadResultsAreSkipped(t *testing.T) {
	st := &settier.SetTier{}
	if err := st.DecodeScalar("gold"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []actions.Action{
		&coupon.Coupon{Amount: 5, ExpiresIn: actions.Duration(time.Hour)},
		&tag.Tag{Add: []string{"x"}},
		st,
	} {
		for _, unread := range []bool{false, true} {
			fx := actionstest.NewEffects()
			res, err := a.Do(context.Background(), &actions.Fire{Key: "p/r/c/1", CustomerID: "c", ResultUnread: unread}, fx)
			if err != nil {
				t.Fatal(err)
			}
			if did := len(fx.Coupons) + len(fx.Tags["c"]) + len(fx.Tiers["c"]); did == 0 {
				t.Errorf("%T with ResultUnread %v did nothing", a, unread)
			}
			if (res == nil) != unread {
				t.Errorf("%T with ResultUnread %v returned %v", a, unread, res)
			}
		}
	}
}

func TestRegistryRejectsBadKinds(t *testing.T) {
	for _, kind := range []string{"Coupon", "send-sms", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("kind %q was accepted", kind)
				}
			}()
			actions.NewRegistry().Add(kind, coupon.New)
		}()
	}
	r := actions.NewRegistry()
	r.Add("send_sms", coupon.New)
	if _, ok := r.New("send_sms"); !ok || len(r.Kinds()) != 1 {
		t.Error("registered kind not found")
	}
}

package policy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

var t0 = time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func marks(ms ...profile.ContactMark) [][]profile.ContactMark { return [][]profile.ContactMark{ms} }

// A cap counts contacts within one period either side of the moment, on
// its channel (or any, for a cap without one), the new messages included.
func TestCapsAllow(t *testing.T) {
	week := 7 * 24 * time.Hour
	caps := []rules.Cap{{Messages: 2, Per: week}, {Channel: "sms", Messages: 1, Per: 24 * time.Hour}}
	past := marks(profile.ContactMark{At: at(-3 * 24 * time.Hour), Channel: "wecom"})
	cases := []struct {
		name     string
		contacts [][]profile.ContactMark
		channels []string
		t        int64
		want     bool
	}{
		{"room for one more", past, []string{"wecom"}, at(0), true},
		{"two new messages exceed the weekly cap", past, []string{"wecom", "wecom"}, at(0), false},
		{"the old contact has left the period", past, []string{"wecom", "wecom"}, at(5 * 24 * time.Hour), true},
		{"a planned later contact counts too", marks(profile.ContactMark{At: at(2 * 24 * time.Hour), Channel: "wecom"}, profile.ContactMark{At: at(3 * 24 * time.Hour), Channel: "log"}), []string{"wecom"}, at(0), false},
		{"the sms cap counts only sms", marks(profile.ContactMark{At: at(-time.Hour), Channel: "wecom"}), []string{"sms"}, at(0), true},
		{"the sms cap refuses a second sms in a day", marks(profile.ContactMark{At: at(-time.Hour), Channel: "sms"}), []string{"sms"}, at(0), false},
		{"no channels need no room", past, nil, at(0), true},
	}
	for _, c := range cases {
		if got := policy.CapsAllow(caps, c.contacts, c.channels, c.t); got != c.want {
			t.Errorf("%s: CapsAllow = %v, want %v", c.name, got, c.want)
		}
	}
}

// CapSlot finds the first moment the caps allow and quiet hours do not
// hold: here when the older of two contacts leaves the week.
func TestCapSlot(t *testing.T) {
	pol := rules.Policy{Caps: []rules.Cap{{Messages: 2, Per: 7 * 24 * time.Hour}}}
	contacts := marks(profile.ContactMark{At: at(-6 * 24 * time.Hour), Channel: "wecom"}, profile.ContactMark{At: at(-24 * time.Hour), Channel: "wecom"})
	got := policy.CapSlot(pol, contacts, []string{"wecom"}, at(0), time.UTC)
	if want := at(24 * time.Hour); got != want {
		t.Errorf("CapSlot = %v, want %v", time.UnixMilli(got).UTC(), time.UnixMilli(want).UTC())
	}
}

// monthly lets a customer receive n messages a calendar month (UTC).
type monthly int

func (n monthly) CustomerLimit(t time.Time) (time.Time, time.Time, int) {
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0), int(n)
}

var _ actions.CustomerLimiter = monthly(0)

func TestLimitsAllow(t *testing.T) {
	limits := map[string]actions.CustomerLimiter{"wecom": monthly(2)}
	thisMonth := marks(profile.ContactMark{At: at(-24 * time.Hour), Channel: "wecom"}, profile.ContactMark{At: at(-48 * time.Hour), Channel: "wecom"})
	lastMonth := marks(profile.ContactMark{At: at(-20 * 24 * time.Hour), Channel: "wecom"}, profile.ContactMark{At: at(-25 * 24 * time.Hour), Channel: "wecom"})
	if policy.LimitsAllow(limits, thisMonth, []string{"wecom"}, at(0)) {
		t.Error("a third message this month was allowed")
	}
	if !policy.LimitsAllow(limits, lastMonth, []string{"wecom"}, at(0)) {
		t.Error("last month's messages counted against this month")
	}
	if !policy.LimitsAllow(limits, thisMonth, []string{"sms"}, at(0)) {
		t.Error("a channel without a limit was limited")
	}
}

func TestWithoutConsent(t *testing.T) {
	if ch, no := policy.WithoutConsent([]string{"sms"}, []string{"wecom", "sms"}); !no || ch != "sms" {
		t.Errorf("opted out of sms: got %q, %v", ch, no)
	}
	if _, no := policy.WithoutConsent([]string{actions.OptOutAll}, []string{"wecom"}); !no {
		t.Error("opting out of everything let wecom through")
	}
	if _, no := policy.WithoutConsent([]string{"sms"}, []string{"wecom"}); no {
		t.Error("an opt-out of sms stopped wecom")
	}
}

func TestCustomerLocation(t *testing.T) {
	brand := time.FixedZone("brand", 8*3600)
	if got := policy.CustomerLocation("Europe/Paris", brand); got.String() != "Europe/Paris" {
		t.Errorf("attrs.timezone Europe/Paris: got %v", got)
	}
	for _, tz := range []any{nil, "", "Mars/Olympus", 8} {
		if got := policy.CustomerLocation(tz, brand); got != brand {
			t.Errorf("attrs.timezone %v: got %v, want the brand's zone", tz, got)
		}
	}
	// Many unknown names (attrs are what callers write) are answered the
	// same, once the cache is full too.
	for i := range 5000 {
		if got := policy.CustomerLocation(fmt.Sprintf("Mars/Crater%d", i), brand); got != brand {
			t.Fatalf("Mars/Crater%d: got %v", i, got)
		}
	}
	if got := policy.CustomerLocation("Asia/Tokyo", brand); got.String() != "Asia/Tokyo" {
		t.Errorf("a known zone once the cache is full: got %v", got)
	}
}

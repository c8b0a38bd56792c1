package engine

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Every attribute of the profile is either changed by events of known
// types (so a journey's exit_when reading it is checked when they arrive)
// or by none: a new attribute must say which.
func TestEveryAttributeIsClassified(t *testing.T) {
	typ := reflect.TypeOf(profile.Profile{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("expr"), ",")
		if name == "" || name == "-" {
			continue
		}
		_, fromEvents := eventTypesOfAttributes[name]
		if fromEvents == slices.Contains(attributesNotFromEvents, name) {
			t.Errorf("attribute %s: in eventTypesOfAttributes %v, in attributesNotFromEvents %v: want exactly one", name, fromEvents, !fromEvents)
		}
	}
}

// A journey answers the events that can change its exit_when, and the one
// it is entered on.
func TestJourneyEventTypes(t *testing.T) {
	for _, c := range []struct {
		exit string
		want []string
		all  bool
	}{
		{"orders_since_entry > 0", []string{"order", "refund", "wecom_add"}, false},
		{"open_coupons == 0", []string{"coupon_redeem", "wecom_add"}, false},
		{`count_since_entry("visit") > 2 || has_tag("x")`, []string{"visit", "wecom_add"}, false},
		{`lifecycle == "koc"`, []string{"order", "referral", "refund", "wecom_add"}, false},
		{"entered_days > 3", []string{"wecom_add"}, false},
		{"$env.orders > 1", nil, true},
	} {
		pb, err := rules.Load("j.yaml", []byte("name: j\nholdout: 0%\njourney:\n  enter: { on: wecom_add }\n  exit_when: '"+c.exit+"'\n  steps:\n    - id: s\n      after: 0m\n      actions: [{ tag: { add: [x] } }]\n"), New(nil, builtin.Registry(), Config{}).LoadOptions())
		if err != nil {
			t.Fatalf("%s: %v", c.exit, err)
		}
		got, all := journeyEventTypes(pb.Journey)
		if all != c.all || (!all && !slices.Equal(got, c.want)) {
			t.Errorf("exit_when %s: %v, all %v; want %v, all %v", c.exit, got, all, c.want, c.all)
		}
	}
}

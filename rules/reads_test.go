package rules_test

import (
	"testing"

	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// A condition says which names it reads, so an evaluation can leave out
// what none reads (the attrs map); $env can reach any name.
func TestConditionReads(t *testing.T) {
	for _, c := range []struct {
		src   string
		attrs bool
	}{
		{`attrs.city == "上海"`, true},
		{`orders > 2 && (attrs["vip"] ?? false)`, true},
		{`any(tags, # == attrs.store)`, true},
		{`$env.attrs.city == "上海"`, true},
		{`orders > 2 && has_tag("vip")`, false},
		{`rfm.segment == "attrs"`, false},
	} {
		cond, err := rules.CompileExpr(c.src, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got := cond.Reads("attrs"); got != c.attrs {
			t.Errorf("%s: Reads(attrs) = %v, want %v", c.src, got, c.attrs)
		}
	}
}

// StringArgs lists the literal event types a condition counts, and says
// when it cannot know them all.
func TestConditionStringArgs(t *testing.T) {
	for _, c := range []struct {
		src  string
		fn   string
		want []string
		all  bool
	}{
		{`count("visit", "7d") > 2 && count("share", "30d") > 0 || count("visit", "1d") > 0`, "count", []string{"visit", "share"}, false},
		{`orders > 2`, "count", nil, false},
		// expr's own count, over a list: not the profile's.
		{`count(tags, # == "x") > 0`, "count", nil, false},
		{`count_since_entry("order") > 0`, "count_since_entry", []string{"order"}, false},
		{`$env.orders > 2`, "count", nil, true},
	} {
		cond, err := rules.CompileExpr(c.src, profile.ExprEnv())
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		got, all := cond.StringArgs(c.fn)
		if len(got) != len(c.want) || all != c.all {
			t.Errorf("%s: StringArgs(%s) = %v, %v; want %v, %v", c.src, c.fn, got, all, c.want, c.all)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: StringArgs(%s) = %v; want %v", c.src, c.fn, got, c.want)
			}
		}
	}
}

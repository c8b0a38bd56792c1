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

package rules_test

import (
	"strings"
	"testing"

	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// render prints a step tree one line per step, as koi explain does.
func render(s *rules.Step, depth int, b *strings.Builder) {
	b.WriteString(strings.Repeat("  ", depth) + s.Expr)
	if s.Compared != "" {
		b.WriteString(" → " + s.Compared)
	}
	b.WriteString(" → " + rules.FormatValue(s.Value) + "\n")
	for _, c := range s.Children {
		render(c, depth+1, b)
	}
}

func TestExplainWalksEveryPart(t *testing.T) {
	c, err := rules.CompileExpr(`rfm.segment == "important_retain" && recency_days > 45 && !has_tag("vip") || count("visit", "7d") > 2`, profile.ExprEnv())
	if err != nil {
		t.Fatal(err)
	}
	days := 63
	p := &profile.Profile{RecencyDays: &days, Tags: []string{"vip"}, RFM: profile.RFM{Segment: "general_winback"}}
	var b strings.Builder
	render(c.Explain(p), 0, &b)
	want := `rfm.segment == "important_retain" && recency_days > 45 && !has_tag("vip") || count("visit", "7d") > 2 → false
  rfm.segment == "important_retain" && recency_days > 45 && !has_tag("vip") → false
    rfm.segment == "important_retain" → "general_winback" == "important_retain" → false
    recency_days > 45 → 63 > 45 → true
    !has_tag("vip") → false
      has_tag("vip") → true
  count("visit", "7d") > 2 → 0 > 2 → false
`
	if b.String() != want {
		t.Errorf("explain:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestExplainNilIsFalseNotAnError(t *testing.T) {
	c, err := rules.CompileExpr(`recency_days > 45`, profile.ExprEnv())
	if err != nil {
		t.Fatal(err)
	}
	s := c.Explain(&profile.Profile{})
	if s.Value != false || s.Error != "" || s.Compared != "nil > 45" {
		t.Errorf("never-ordered customer: %+v, want nil > 45 → false", s)
	}
}

func TestTermsAndValues(t *testing.T) {
	c, err := rules.CompileExpr(`tier in ["gold", "vip"] && rfm.segment != "" && count("visit", "7d") > 0 && has_tag("x") && tier != "normal"`, profile.ExprEnv())
	if err != nil {
		t.Fatal(err)
	}
	terms := c.Terms()
	want := []string{"tier", "rfm.segment", `count("visit", "7d")`, `has_tag("x")`}
	if strings.Join(terms, "|") != strings.Join(want, "|") {
		t.Fatalf("terms %q, want %q", terms, want)
	}
	vals := c.TermValues(terms, &profile.Profile{Tier: "gold", RFM: profile.RFM{Segment: "general_value"}})
	if vals["tier"] != "gold" || vals["rfm.segment"] != "general_value" || vals[`has_tag("x")`] != false || vals[`count("visit", "7d")`] != 0 {
		t.Errorf("values %v", vals)
	}
}

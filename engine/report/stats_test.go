package report

import (
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// The figures were computed by hand for 40 of 200 treated and 10 of 100
// holdout customers converting: pooled p = 50/300, se = sqrt(p(1-p)(1/200
// + 1/100)) = 0.0456435, z = 0.1 / se = 2.1908902, p = erfc(z/√2) =
// 0.0284597; unpooled se = sqrt(.2·.8/200 + .1·.9/100) = 0.0412311, so the
// 95% interval is 0.1 ± 1.959964·0.0412311 = [0.0191886, 0.1808114].
func TestCompareMatchesHandComputedValues(t *testing.T) {
	treated := Group{Customers: 200, Converted: 40, revenueFen: 200 * 3000}
	holdout := Group{Customers: 100, Converted: 10, revenueFen: 100 * 1000}
	treated.finish()
	holdout.finish()
	c := Compare("treated", treated, "holdout", holdout)
	if !near(c.Uplift, 0.1) || c.Relative == nil || !near(*c.Relative, 1.0) {
		t.Errorf("uplift %v relative %v, want 0.1 and 1.0", c.Uplift, c.Relative)
	}
	if !near(c.Z, 2.1908902) || !near(c.PValue, 0.0284597) {
		t.Errorf("z %.7f p %.7f, want 2.1908902 and 0.0284597", c.Z, c.PValue)
	}
	if !near(c.CILow, 0.0191886) || !near(c.CIHigh, 0.1808114) {
		t.Errorf("CI [%.7f, %.7f], want [0.0191886, 0.1808114]", c.CILow, c.CIHigh)
	}
	if !near(c.RevenueUplift, 20) || !c.Enough || c.Verdict != VerdictUplift {
		t.Errorf("revenue uplift %v, enough %v, verdict %q", c.RevenueUplift, c.Enough, c.Verdict)
	}
	// Swapped, the same difference is a drop.
	if d := Compare("holdout", holdout, "treated", treated); d.Verdict != VerdictDrop || !near(d.Z, -2.1908902) {
		t.Errorf("swapped: %q z %v", d.Verdict, d.Z)
	}
}

// Too few customers or conversions give no verdict, only the reason.
func TestCompareRefusesTooLittleData(t *testing.T) {
	for _, c := range []struct {
		a, b Group
		why  string
	}{
		{Group{Customers: 29, Converted: 10}, Group{Customers: 100, Converted: 10}, "treated has 29 customers"},
		{Group{Customers: 100, Converted: 10}, Group{Customers: 100, Converted: 4}, "holdout has 4 conversions"},
		{Group{Customers: 100, Converted: 97}, Group{Customers: 100, Converted: 50}, "treated has 3 customers who did not convert"},
	} {
		c.a.finish()
		c.b.finish()
		got := Compare("treated", c.a, "holdout", c.b)
		if got.Enough || !strings.HasPrefix(got.Verdict, "not enough data: "+c.why) {
			t.Errorf("%+v vs %+v: %v %q", c.a, c.b, got.Enough, got.Verdict)
		}
	}
	same := Group{Customers: 100, Converted: 10}
	same.finish()
	if got := Compare("a", same, "b", same); !got.Enough || got.Verdict != VerdictInconclusive || got.PValue != 1 {
		t.Errorf("equal groups: %q p %v", got.Verdict, got.PValue)
	}
}

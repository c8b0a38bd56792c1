package report

import (
	"fmt"
	"math"
)

// Comparison is a two-proportion z-test of conversion between two groups
// of customers, A (the treatment) and B (the comparison, usually the
// holdout).
type Comparison struct {
	A string `json:"a"`
	B string `json:"b"`
	// Uplift is A's conversion minus B's, as a fraction (0.05 = five
	// percentage points); Relative is that over B's conversion, nil when
	// B converted no one.
	Uplift   float64  `json:"uplift"`
	Relative *float64 `json:"relative_uplift,omitempty"`
	// RevenueUplift is A's revenue per customer minus B's, in yuan.
	RevenueUplift float64 `json:"revenue_uplift"`
	// Z and PValue are the pooled two-proportion z-test, two-sided.
	Z      float64 `json:"z"`
	PValue float64 `json:"p_value"`
	// CILow and CIHigh bound Uplift with 95% confidence (unpooled
	// standard error).
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	// Enough is false when the groups are too small for the normal
	// approximation the test rests on; Verdict then says so, and the
	// numbers above are not to be read as a result.
	Enough  bool   `json:"enough_data"`
	Verdict string `json:"verdict"`
}

// Statistical thresholds of a comparison.
const (
	// minGroup is the fewest customers per group for a verdict.
	minGroup = 30
	// minOutcomes is the fewest converted, and not converted, customers
	// per group: the usual condition (n·p ≥ 5 and n·(1−p) ≥ 5) for the
	// normal approximation of a proportion.
	minOutcomes = 5
	// z975 is the standard normal quantile for a 95% interval.
	z975 = 1.959963984540054
	// alpha is the significance level of a verdict.
	alpha = 0.05
)

// Verdicts.
const (
	VerdictUplift       = "significant uplift"
	VerdictDrop         = "significant drop"
	VerdictInconclusive = "no significant difference"
)

// Compare tests whether a's conversion differs from b's.
func Compare(aName string, a Group, bName string, b Group) Comparison {
	c := Comparison{A: aName, B: bName}
	pa, pb := a.Conversion, b.Conversion
	c.Uplift = pa - pb
	c.RevenueUplift = a.RevenuePerCustomer - b.RevenuePerCustomer
	if pb > 0 {
		r := c.Uplift / pb
		c.Relative = &r
	}
	if a.Customers > 0 && b.Customers > 0 {
		na, nb := float64(a.Customers), float64(b.Customers)
		p := float64(a.Converted+b.Converted) / (na + nb)
		if se := math.Sqrt(p * (1 - p) * (1/na + 1/nb)); se > 0 {
			c.Z = c.Uplift / se
		}
		c.PValue = math.Erfc(math.Abs(c.Z) / math.Sqrt2)
		seu := math.Sqrt(pa*(1-pa)/na + pb*(1-pb)/nb)
		c.CILow, c.CIHigh = c.Uplift-z975*seu, c.Uplift+z975*seu
	}
	if why := tooLittle(aName, a, bName, b); why != "" {
		c.Verdict = "not enough data: " + why
		return c
	}
	c.Enough = true
	switch {
	case c.PValue >= alpha:
		c.Verdict = VerdictInconclusive
	case c.Uplift > 0:
		c.Verdict = VerdictUplift
	default:
		c.Verdict = VerdictDrop
	}
	return c
}

// tooLittle says why two groups are too small to compare, or "".
func tooLittle(aName string, a Group, bName string, b Group) string {
	for _, g := range []struct {
		name string
		Group
	}{{aName, a}, {bName, b}} {
		switch {
		case g.Customers < minGroup:
			return fmt.Sprintf("%s has %d customers, a conclusion needs at least %d", g.name, g.Customers, minGroup)
		case g.Converted < minOutcomes:
			return fmt.Sprintf("%s has %d conversions, a conclusion needs at least %d", g.name, g.Converted, minOutcomes)
		case g.Customers-g.Converted < minOutcomes:
			return fmt.Sprintf("%s has %d customers who did not convert, a conclusion needs at least %d", g.name, g.Customers-g.Converted, minOutcomes)
		}
	}
	return ""
}

package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/koihq/koi/engine/profile"
)

// SummaryWindows are the windows, in days, a pond summary decomposes GMV
// over: those the profiles count orders and spend in.
var SummaryWindows = []int{30, 90, 365}

// PondSummary is the pond at a moment, as the console's pond page shows
// it: the five relationship layers, the eight RFM segments, and GMV
// decomposed over a window against the window before it.
type PondSummary struct {
	At time.Time
	// Version is the pond version it was computed at.
	Version   int64
	Customers int
	// Layers are the lifecycle stages from the widest (basic) to the
	// deepest (koc), each counting the customers at that stage or deeper:
	// a member who bought is a member too.
	Layers []LayerCount
	// Segments are the eight RFM segments in profile.Segments' order,
	// then the customers without a score (no order yet) as "unscored".
	Segments   []SegmentSummary
	WindowDays int
	// Current is the window ending at At; Previous the one before it.
	Current, Previous GMVFactors
}

// LayerCount is one relationship layer.
type LayerCount struct {
	Stage     string
	Customers int
}

// SegmentSummary is one RFM segment.
type SegmentSummary struct {
	Segment   string
	Customers int
	// SpendYuan is the segment's lifetime spend; RecencyDays the sum of
	// its customers' days since their last order (all of them have one).
	SpendYuan   float64
	RecencyDays int
}

// AvgSpend is the segment's average lifetime spend in yuan (0 when empty).
func (s SegmentSummary) AvgSpend() float64 { return ratio(s.SpendYuan, float64(s.Customers)) }

// AvgRecency is the segment's average days since the last order.
func (s SegmentSummary) AvgRecency() float64 {
	return ratio(float64(s.RecencyDays), float64(s.Customers))
}

// GMVFactors are the counts of one window that decompose its GMV as the
// private-domain formula has it: GMV = traffic × conversion × AOV ×
// repurchase × referral. Traffic is the customers active in the window
// (any event), less the share referral adds: OwnTraffic × Referral ×
// Conversion × AOV × Repurchase equals GMV exactly.
type GMVFactors struct {
	From, To time.Time
	// Active is the customers with any event in the window.
	Active int
	// Buyers is the customers with an order in it; Orders their orders
	// and GMVYuan what the orders came to, net of refunds, as orders_Nd
	// and spend_Nd count them (a fully refunded order is none).
	Buyers  int
	Orders  int
	GMVYuan float64
	// Referrals is the referral events in the window.
	Referrals int
}

// Referral is the traffic multiplier referrals bring: 1 + referrals per
// active customer.
func (g GMVFactors) Referral() float64 {
	return 1 + ratio(float64(g.Referrals), float64(g.Active))
}

// OwnTraffic is the active customers divided by Referral.
func (g GMVFactors) OwnTraffic() float64 { return ratio(float64(g.Active), g.Referral()) }

// Conversion is the share of active customers who ordered.
func (g GMVFactors) Conversion() float64 { return ratio(float64(g.Buyers), float64(g.Active)) }

// AOV is the average order value in yuan (客单价).
func (g GMVFactors) AOV() float64 { return ratio(g.GMVYuan, float64(g.Orders)) }

// Repurchase is the orders per buyer (复购).
func (g GMVFactors) Repurchase() float64 { return ratio(float64(g.Orders), float64(g.Buyers)) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// PondSummary computes the summary at now, decomposing GMV over the last
// windowDays (one of SummaryWindows). It reads every profile twice (at
// now and at the end of the previous window), scored against the
// population of now: a second or more at a million customers, so callers
// keep the result (the console does, per pond version).
func (e *Engine) PondSummary(ctx context.Context, now time.Time, windowDays int) (*PondSummary, error) {
	if !slices.Contains(SummaryWindows, windowDays) {
		return nil, fmt.Errorf("pond summary: a window of %d days; want one of %v", windowDays, SummaryWindows)
	}
	version, err := e.store.PondVersion(ctx)
	if err != nil {
		return nil, err
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	pop, err := e.population(ctx, pond, now)
	if err != nil {
		return nil, err
	}
	s := &PondSummary{At: now, Version: version, WindowDays: windowDays}
	window := time.Duration(windowDays) * 24 * time.Hour
	stages := map[string]int{}
	segments := map[string]*SegmentSummary{}
	for _, seg := range append(append([]string{}, profile.Segments...), "unscored") {
		segments[seg] = &SegmentSummary{Segment: seg}
	}
	s.Current = GMVFactors{From: now.Add(-window), To: now}
	err = e.eachProfile(ctx, pond, pop, now, 0, false, func(_ int, p *profile.Profile) bool {
		s.Customers++
		stages[p.Lifecycle]++
		seg := p.RFM.Segment
		if seg == "" {
			seg = "unscored"
		}
		ss := segments[seg]
		ss.Customers++
		ss.SpendYuan += p.Spend
		if p.RecencyDays != nil {
			ss.RecencyDays += *p.RecencyDays
		}
		addWindow(&s.Current, p, windowDays)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("pond summary: %w", err)
	}
	// The previous window reads orders, spend and events, not RFM: today's
	// population serves. Scoring against one of a month ago would compute
	// a snapshot of the whole pond, and push today's out of the cache the
	// runs and single profiles use.
	s.Previous = GMVFactors{From: now.Add(-2 * window), To: now.Add(-window)}
	err = e.eachProfile(ctx, pond, pop, s.Previous.To, 0, false, func(_ int, p *profile.Profile) bool {
		addWindow(&s.Previous, p, windowDays)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("pond summary: %w", err)
	}
	// Stages lists the deepest first; each layer counts its own customers
	// and all deeper ones.
	deeper := 0
	for _, st := range profile.Stages {
		deeper += stages[st]
		s.Layers = append([]LayerCount{{Stage: st, Customers: deeper}}, s.Layers...)
	}
	for _, seg := range append(append([]string{}, profile.Segments...), "unscored") {
		s.Segments = append(s.Segments, *segments[seg])
	}
	return s, nil
}

// addWindow adds a profile computed at g.To to the window's counts.
func addWindow(g *GMVFactors, p *profile.Profile, days int) {
	all, referrals := p.EventsIn(g.From.UnixMilli(), g.To.UnixMilli())
	if all > 0 {
		g.Active++
	}
	g.Referrals += referrals
	orders, spend := p.Orders30d, p.Spend30d
	switch days {
	case 90:
		orders, spend = p.Orders90d, p.Spend90d
	case 365:
		orders, spend = p.Orders365d, p.Spend365d
	}
	if orders > 0 {
		g.Buyers++
		g.Orders += orders
		g.GMVYuan += spend
	}
}

// PondVersion returns the store's pond version: it moves with every
// change to customers, events, coupons and fires.
func (e *Engine) PondVersion(ctx context.Context) (int64, error) {
	return e.store.PondVersion(ctx)
}

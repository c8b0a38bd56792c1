package engine

import (
	"context"
	"sort"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/rules"
)

// Group is the outcome of one group of fires over their attribution
// window: treated, holdout, or one variant.
type Group struct {
	// Customers counts the fires (one customer each) whose window closed.
	Customers int `json:"customers"`
	// Converted counts those followed by an order within the window.
	Converted  int     `json:"converted"`
	Conversion float64 `json:"conversion"`
	// Revenue is the net order value in the windows, in yuan (refunds of
	// those orders taken off); RevenuePerCustomer divides it by Customers.
	Revenue            float64 `json:"revenue"`
	RevenuePerCustomer float64 `json:"revenue_per_customer"`
	// CouponRevenue is the value of orders that redeemed a coupon the
	// fire issued, in yuan.
	CouponRevenue float64 `json:"coupon_revenue"`

	revenueFen, couponFen int64
}

func (g *Group) add(converted bool, revenueFen, couponFen int64) {
	g.Customers++
	if converted {
		g.Converted++
	}
	g.revenueFen += revenueFen
	g.couponFen += couponFen
}

func (g *Group) finish() {
	g.Revenue = float64(g.revenueFen) / 100
	g.CouponRevenue = float64(g.couponFen) / 100
	if g.Customers > 0 {
		g.Conversion = float64(g.Converted) / float64(g.Customers)
		g.RevenuePerCustomer = g.Revenue / float64(g.Customers)
	}
}

// RuleReport is the outcome of one rule's fires: treated against the
// playbook's holdout, and its variants against the holdout and each other.
type RuleReport struct {
	Playbook string `json:"playbook"`
	Rule     string `json:"rule"`
	// Window is the attribution window, like "14d".
	Window  string `json:"window"`
	Treated Group  `json:"treated"`
	// Holdout is nil when the playbook keeps no holdout.
	Holdout *Group `json:"holdout,omitempty"`
	// Open counts fires whose window has not closed yet: they are left
	// out until it has.
	Open int `json:"open"`
	// Uplift compares treated with the holdout.
	Uplift   *Comparison     `json:"uplift,omitempty"`
	Variants []VariantReport `json:"variants,omitempty"`
	// VariantPairs compares every two variants.
	VariantPairs []Comparison `json:"variant_pairs,omitempty"`
	// Note says what the report cannot tell, for rules without a holdout.
	Note string `json:"note,omitempty"`
	// Messages counts the rule's messages by what became of them, over
	// all its fires (open windows too); nil for a rule that sent none.
	Messages *MessageOutcomes `json:"messages,omitempty"`
}

// VariantReport is one variant's outcome and its comparison with the
// holdout.
type VariantReport struct {
	Variant   string      `json:"variant"`
	Group     Group       `json:"group"`
	VsHoldout *Comparison `json:"vs_holdout,omitempty"`
}

// OutcomeFire is a fire as reports read it.
type OutcomeFire struct {
	ID         int64
	Playbook   string
	Rule       string
	CustomerID string
	At         time.Time
	Status     string
	Variant    string
	// CouponOrderFen is the value of the orders that redeemed coupons the
	// fire issued.
	CouponOrderFen int64
}

// Report compares, for each rule of the loaded playbooks (or of one),
// the customers it treated with the playbook's holdout over the
// attribution window, as of now. Fires whose window is still open are
// counted apart.
func (e *Engine) Report(ctx context.Context, playbook string, now time.Time) ([]*RuleReport, error) {
	pbs, err := e.selectPlaybooks(nonEmpty(playbook))
	if err != nil {
		return nil, err
	}
	byName := map[string]*rules.Playbook{}
	for _, pb := range pbs {
		byName[pb.Name] = pb
	}
	type key struct{ playbook, rule string }
	reports := map[key]*RuleReport{}
	variants := map[key]map[string]*Group{}
	var order []key
	for _, pb := range pbs {
		for _, r := range pb.Rules {
			k := key{pb.Name, r.ID}
			rep := &RuleReport{Playbook: pb.Name, Rule: r.ID, Window: actions.Duration(pb.Attribution).String()}
			if pb.HoldoutBP > 0 {
				rep.Holdout = &Group{}
			}
			reports[k] = rep
			order = append(order, k)
			if len(r.Variants) > 0 {
				variants[k] = map[string]*Group{}
				for _, v := range r.Variants {
					variants[k][v.ID] = &Group{}
				}
			}
		}
	}
	fires, err := e.store.OutcomeFires(ctx, playbook)
	if err != nil {
		return nil, err
	}
	messages, err := e.messageOutcomes(ctx, playbook)
	if err != nil {
		return nil, err
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	e.pondMu.RLock()
	for _, f := range fires {
		k := key{f.Playbook, f.Rule}
		rep := reports[k]
		if rep == nil {
			continue // a rule no longer in the playbook
		}
		window := byName[f.Playbook].Attribution
		if f.At.Add(window).After(now) {
			rep.Open++
			continue
		}
		var converted bool
		var revenue int64
		if i, ok := pond.Lookup(f.CustomerID); ok {
			var n int
			n, revenue = pond.OrdersIn(i, f.At.UnixMilli(), f.At.Add(window).UnixMilli(), now.UnixMilli())
			converted = n > 0
		}
		switch f.Status {
		case FireHoldout:
			if rep.Holdout == nil {
				rep.Holdout = &Group{} // the playbook had a holdout then
			}
			rep.Holdout.add(converted, revenue, 0)
		default:
			rep.Treated.add(converted, revenue, f.CouponOrderFen)
			if g := variants[k][f.Variant]; g != nil {
				g.add(converted, revenue, f.CouponOrderFen)
			}
		}
	}
	e.pondMu.RUnlock()
	out := make([]*RuleReport, 0, len(order))
	for _, k := range order {
		rep := reports[k]
		rep.Messages = messages[[2]string{k.playbook, k.rule}]
		rep.Treated.finish()
		if rep.Holdout != nil {
			rep.Holdout.finish()
			c := Compare("treated", rep.Treated, "holdout", *rep.Holdout)
			rep.Uplift = &c
		} else {
			rep.Note = "no holdout: set holdout: in the playbook to measure what this rule changes"
		}
		if vs := variants[k]; vs != nil {
			ids := make([]string, 0, len(vs))
			for id := range vs {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				vs[id].finish()
				vr := VariantReport{Variant: id, Group: *vs[id]}
				if rep.Holdout != nil {
					c := Compare(id, *vs[id], "holdout", *rep.Holdout)
					vr.VsHoldout = &c
				}
				rep.Variants = append(rep.Variants, vr)
			}
			for a := 0; a < len(ids); a++ {
				for b := a + 1; b < len(ids); b++ {
					rep.VariantPairs = append(rep.VariantPairs, Compare(ids[a], *vs[ids[a]], ids[b], *vs[ids[b]]))
				}
			}
		}
		out = append(out, rep)
	}
	return out, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// Package report measures what playbooks did: for each rule, the customers
// it treated against the playbook's holdout (and its A/B variants against
// each other) over the attribution window, with a two-proportion test of
// the difference, and what became of the messages it sent. It is pure:
// the engine hands it the fires, the orders and the message states.
package report

import (
	"sort"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
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

// MessageStateCount is how many messages of a rule on a channel are in a
// delivery state ("" for messages recorded before koi tracked outcomes).
type MessageStateCount struct {
	Playbook, Rule, Channel, State string
	N                              int
}

// MessageOutcomes counts a rule's messages by what became of them.
type MessageOutcomes struct {
	// Planned counts every message its fires planned.
	Planned int `json:"planned"`
	// Contacts counts those that reached the customer: delivered by a
	// channel that sends at once (done), or sent by the guide (a WeCom
	// task confirmed: sent). A WeCom task still waiting for its guide is
	// no contact.
	Contacts int `json:"contacts"`
	// ByState counts them by state; "pending" holds messages still in the
	// outbox, and "unknown" those recorded before koi tracked outcomes.
	ByState map[string]int `json:"by_state"`
}

// Orders answers how many orders a customer placed in [from, to) (unix
// milliseconds), counting refunds until asOf, and their net value in fen;
// ok is false for a customer no longer in the pond.
type Orders func(customerID string, from, to, asOf int64) (n int, netFen int64, ok bool)

// Build reports on every rule of pbs from their fires as of now: a fire
// whose attribution window is still open is counted apart (Open); the
// others count as converted when orders says the customer ordered within
// the window. messages holds each rule's message outcomes by
// {playbook, rule}.
func Build(pbs []*rules.Playbook, fires []OutcomeFire, orders Orders, messages map[[2]string]*MessageOutcomes, now time.Time) []*RuleReport {
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
		if n, net, ok := orders(f.CustomerID, f.At.UnixMilli(), f.At.Add(window).UnixMilli(), now.UnixMilli()); ok {
			converted, revenue = n > 0, net
		}
		switch f.Status {
		case domain.FireHoldout:
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
	return out
}

package engine

import (
	"cmp"
	"slices"
	"time"

	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Outcomes of one rule for one customer in a traced run or a preview.
const (
	OutcomeFired      = "fired"
	OutcomeHoldout    = "holdout"
	OutcomeSuppressed = "suppressed"
	OutcomeError      = "error"
)

// CustomerOutcome is what one rule did for one customer that it matched:
// the engine keeps them when Config.Trace is set (koi test) and previews
// compute them. Customers a rule did not match have none.
type CustomerOutcome struct {
	CustomerID string `json:"customer_id"`
	Rule       string `json:"rule"`
	// Outcome is OutcomeFired, OutcomeHoldout, OutcomeSuppressed or
	// OutcomeError.
	Outcome string `json:"outcome"`
	// Reason is why a match was suppressed, or, for a fire, why its
	// messages wait (quiet_hours, cap).
	Reason string `json:"reason,omitempty"`
	// By names the rule of the benefit group whose fire suppressed the
	// match by cooldown or once (playbook/rule), when not the rule itself.
	By      string `json:"by,omitempty"`
	Variant string `json:"variant,omitempty"`
	// DeliverAt is when a fire's messages are due, when later than the run.
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// outcomes lists every match of a traced evaluation, by customer (pond
// order) and then rule order. held says the blast guard stopped the run:
// what would have fired is then suppressed by it.
func (ev *evaluation) outcomes(pb *rules.Playbook, snap *profile.Snapshot, held bool) []CustomerOutcome {
	type keyed struct {
		cust int32
		rule int16
		out  CustomerOutcome
	}
	all := make([]keyed, 0, len(ev.decisions)+len(ev.traced))
	id := func(i int32) string { return snap.Pond().Customers[i].ID }
	for _, d := range ev.decisions {
		r := pb.Rules[d.rule]
		o := CustomerOutcome{CustomerID: id(d.cust), Rule: r.ID, Outcome: OutcomeFired}
		if d.variant >= 0 && int(d.variant) < len(r.Variants) {
			o.Variant = r.Variants[d.variant].ID
		}
		switch {
		case d.holdout:
			o.Outcome, o.Reason = OutcomeHoldout, ReasonHoldout
		case held:
			o.Outcome, o.Reason = OutcomeSuppressed, ReasonBlastGuard
		default:
			o.Reason = d.deferred.reason()
			if d.deliverAt != 0 {
				t := time.UnixMilli(d.deliverAt).In(snap.Now.Location())
				o.DeliverAt = &t
			}
		}
		all = append(all, keyed{d.cust, d.rule, o})
	}
	for _, t := range ev.traced {
		o := CustomerOutcome{CustomerID: id(t.cust), Rule: pb.Rules[t.rule].ID, Outcome: OutcomeSuppressed, Reason: t.reason, By: t.by}
		if t.err != "" {
			o.Outcome, o.Error = OutcomeError, t.err
		}
		all = append(all, keyed{t.cust, t.rule, o})
	}
	slices.SortFunc(all, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.cust, b.cust), cmp.Compare(a.rule, b.rule))
	})
	out := make([]CustomerOutcome, len(all))
	for i, k := range all {
		out[i] = k.out
	}
	return out
}

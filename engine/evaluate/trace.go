package evaluate

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

// Outcomes lists every match of a traced evaluation, by customer (pond
// order) and then rule order. held says the blast guard stopped the run:
// what would have fired is then suppressed by it.
func (ev *Evaluation) Outcomes(pb *rules.Playbook, snap *profile.Snapshot, held bool) []CustomerOutcome {
	type keyed struct {
		cust int32
		rule int16
		out  CustomerOutcome
	}
	all := make([]keyed, 0, len(ev.Decisions)+len(ev.Traced))
	id := func(i int32) string { return snap.Pond().Customers[i].ID }
	for _, d := range ev.Decisions {
		r := pb.Rules[d.Rule]
		o := CustomerOutcome{CustomerID: id(d.Cust), Rule: r.ID, Outcome: OutcomeFired}
		if d.Variant >= 0 && int(d.Variant) < len(r.Variants) {
			o.Variant = r.Variants[d.Variant].ID
		}
		switch {
		case d.Holdout:
			o.Outcome, o.Reason = OutcomeHoldout, ReasonHoldout
		case held:
			o.Outcome, o.Reason = OutcomeSuppressed, ReasonBlastGuard
		default:
			o.Reason = d.Deferred.Reason()
			if d.DeliverAt != 0 {
				t := time.UnixMilli(d.DeliverAt).In(snap.Now.Location())
				o.DeliverAt = &t
			}
		}
		all = append(all, keyed{d.Cust, d.Rule, o})
	}
	for _, t := range ev.Traced {
		o := CustomerOutcome{CustomerID: id(t.Cust), Rule: pb.Rules[t.Rule].ID, Outcome: OutcomeSuppressed, Reason: t.Reason, By: t.By}
		if t.Err != "" {
			o.Outcome, o.Error = OutcomeError, t.Err
		}
		all = append(all, keyed{t.Cust, t.Rule, o})
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

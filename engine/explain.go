package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// Verdicts of an explanation: what the rule does for the customer.
const (
	VerdictFires         = "fires"
	VerdictHoldout       = "holdout"
	VerdictSuppressed    = "suppressed"
	VerdictNotMatched    = "not_matched"
	VerdictNotInAudience = "not_in_audience"
	// VerdictStopped: an earlier rule with stop: true matched the
	// customer, so this rule is not evaluated for them.
	VerdictStopped = "stopped"
	VerdictError   = "error"
)

// ExplainRequest names the customer, the rule and the moment to explain.
type ExplainRequest struct {
	Playbook   string
	Rule       string
	CustomerID string
	At         time.Time
}

// Explanation says why a rule would or would not fire for a customer.
type Explanation struct {
	Playbook   string    `json:"playbook"`
	Rule       string    `json:"rule"`
	CustomerID string    `json:"customer_id"`
	At         time.Time `json:"at"`
	// On is the event type of an event-triggered rule, explained as if
	// such an event arrived at At.
	On string `json:"on,omitempty"`
	// Audience explains the playbook's audience; nil when it has none.
	Audience   *rules.Step `json:"audience,omitempty"`
	InAudience bool        `json:"in_audience"`
	// When explains the rule's condition.
	When *rules.Step `json:"when"`
	// Verdict is one of the Verdict constants; Reason the suppression
	// (or, for a fire, policy.Deferral) reason; StoppedBy the earlier rule that
	// claimed the customer.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	// By names the rule of the benefit group whose fire is the reason
	// (playbook/rule), when it is not this rule's own.
	By        string     `json:"by,omitempty"`
	StoppedBy string     `json:"stopped_by,omitempty"`
	Variant   string     `json:"variant,omitempty"`
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
	// State is what the rule's suppressions look at.
	State evaluate.ExplainState `json:"state"`
}

// Explain evaluates one rule of a playbook for one customer at req.At,
// exactly as a run would (audience, earlier stop rules, cooldown, once,
// consent, contact policy, holdout), and explains each part.
func (e *Engine) Explain(ctx context.Context, req ExplainRequest) (*Explanation, error) {
	pb, ok := e.Playbook(req.Playbook)
	if !ok {
		_, err := e.selectPlaybooks([]string{req.Playbook})
		return nil, err
	}
	ri := -1
	for i, r := range pb.Rules {
		if r.ID == req.Rule {
			ri = i
		}
	}
	if ri < 0 {
		ids := make([]string, len(pb.Rules))
		for i, r := range pb.Rules {
			ids[i] = r.ID
		}
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("playbook %s has no rule %q (rules: %v)", pb.Name, req.Rule, ids)}
	}
	rule := pb.Rules[ri]
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	pop, err := e.population(ctx, pond, req.At)
	if err != nil {
		return nil, err
	}
	snap, idx := e.sparseSnapshot(pond, pop, []string{req.CustomerID}, req.At)
	if len(idx) == 0 {
		if _, known := pond.Lookup(req.CustomerID); known {
			return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("customer %q had not joined yet at %s", req.CustomerID, req.At.Format(time.RFC3339))}
		}
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", req.CustomerID)}
	}
	i := idx[0]
	p := snap.Profile(i)
	all, err := e.store.FireMarks(ctx, pb.Name, e.groupRules(pb))
	if err != nil {
		return nil, fmt.Errorf("explain: read fire marks: %w", err)
	}
	marks := &evaluate.Marks{Rules: map[evaluate.FireRef]evaluate.FireMark{}, Groups: map[evaluate.FireRef]evaluate.FireMark{}}
	for _, r := range pb.Rules {
		ref := evaluate.FireRef{Rule: r.ID, CustomerID: p.ID}
		if m, ok := all.Rules[ref]; ok {
			marks.Rules[ref] = m
		}
	}
	for _, g := range pb.Groups() {
		ref := evaluate.FireRef{Rule: g, CustomerID: p.ID}
		if m, ok := all.Groups[ref]; ok {
			marks.Groups[ref] = m
		}
	}
	x := &Explanation{Playbook: pb.Name, Rule: rule.ID, CustomerID: p.ID, At: req.At, On: rule.On,
		When: rule.When.Explain(p), InAudience: true}
	var m rules.Evaluator
	if pb.Audience != nil {
		x.Audience = pb.Audience.Explain(p)
		ok, err := pb.Audience.Eval(&m, p)
		x.InAudience = ok && err == nil
	}
	x.State = evaluate.StateOf(pb, rule, p, marks, req.At)
	if !x.InAudience {
		x.Verdict = VerdictNotInAudience
		return x, nil
	}
	var events map[string]bool
	if rule.On != "" {
		events = map[string]bool{rule.On: true}
	}
	ev := &evaluate.Evaluation{Counts: evaluate.NewCounts(pb), Trace: true}
	evaluate.EvaluateCustomer(pb, snap, marks, i, p, &m, ev, events)
	matched := map[string]evaluate.CustomerOutcome{}
	for _, o := range ev.Outcomes(pb, snap, false) {
		matched[o.Rule] = o
	}
	if o, ok := matched[rule.ID]; ok {
		x.Variant, x.DeliverAt, x.Reason, x.By = o.Variant, o.DeliverAt, o.Reason, o.By
		switch o.Outcome {
		case evaluate.OutcomeFired:
			x.Verdict = VerdictFires
		case evaluate.OutcomeHoldout:
			x.Verdict = VerdictHoldout
		case evaluate.OutcomeError:
			x.Verdict, x.Reason = VerdictError, o.Error
		default:
			x.Verdict = VerdictSuppressed
		}
		return x, nil
	}
	for _, r := range pb.Rules[:ri] {
		if _, ok := matched[r.ID]; ok && r.Stop && r.On == rule.On && x.When.Value == true {
			x.Verdict, x.StoppedBy = VerdictStopped, r.ID
			return x, nil
		}
	}
	x.Verdict = VerdictNotMatched
	return x, nil
}

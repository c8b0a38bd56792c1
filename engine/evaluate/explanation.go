package evaluate

import (
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
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
	// Verdicts of a journey's step. VerdictNotEntered: the customer is
	// not in the journey (never entered, or their journey ended);
	// VerdictWaiting: they are in it, the step is not due yet (or
	// another comes first); VerdictPassed: they are past the step.
	VerdictNotEntered = "not_entered"
	VerdictWaiting    = "waiting"
	VerdictPassed     = "passed"
)

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
	State ExplainState `json:"state"`
	// Journey is a journey step's part: where the customer is in the
	// journey and what decides the step (nil for a rule).
	Journey *JourneyExplanation `json:"journey,omitempty"`
}

// JourneyExplanation explains a journey step for a customer.
type JourneyExplanation struct {
	// State is the customer's latest entry into the journey; nil when
	// they never entered.
	State *domain.JourneyState `json:"state,omitempty"`
	// On is the event type the journey is entered on; Enter explains its
	// enter.when for a customer not in it, and MayEnter says whether they
	// may enter now (reenter allows it).
	On       string      `json:"on,omitempty"`
	Enter    *rules.Step `json:"enter,omitempty"`
	MayEnter bool        `json:"may_enter"`
	// Exit explains exit_when with the entry's attributes (entered_days,
	// orders_since_entry, …), for a customer in the journey.
	Exit *rules.Step `json:"exit,omitempty"`
	// DueAt is when the step is due for a customer in the journey.
	DueAt *time.Time `json:"due_at,omitempty"`
}

// Explain evaluates rule ri of pb for the customer at pond position i of
// snap, exactly as a run would (audience, earlier stop rules, cooldown,
// once, consent, contact policy, holdout), and explains each part.
func Explain(pb *rules.Playbook, ri int, snap *profile.Snapshot, i int, marks *Marks, at time.Time) *Explanation {
	rule := pb.Rules[ri]
	p := snap.Profile(i)
	x := &Explanation{Playbook: pb.Name, Rule: rule.ID, CustomerID: p.ID, At: at, On: rule.On,
		When: rule.When.Explain(p), InAudience: true}
	var m rules.Evaluator
	if pb.Audience != nil {
		x.Audience = pb.Audience.Explain(p)
		ok, err := pb.Audience.Eval(&m, p)
		x.InAudience = ok && err == nil
	}
	x.State = StateOf(pb, rule, i, p, marks, at)
	if !x.InAudience {
		x.Verdict = VerdictNotInAudience
		return x
	}
	var events map[string]bool
	if rule.On != "" {
		events = map[string]bool{rule.On: true}
	}
	ev := &Evaluation{Counts: NewCounts(pb), Trace: true}
	EvaluateCustomer(pb, snap, marks, i, p, &m, ev, events)
	matched := map[string]CustomerOutcome{}
	for _, o := range ev.Outcomes(pb, snap, false) {
		matched[o.Rule] = o
	}
	if o, ok := matched[rule.ID]; ok {
		x.Variant, x.DeliverAt, x.Reason, x.By = o.Variant, o.DeliverAt, o.Reason, o.By
		switch o.Outcome {
		case OutcomeFired:
			x.Verdict = VerdictFires
		case OutcomeHoldout:
			x.Verdict = VerdictHoldout
		case OutcomeError:
			x.Verdict, x.Reason = VerdictError, o.Error
		default:
			x.Verdict = VerdictSuppressed
		}
		return x
	}
	for _, r := range pb.Rules[:ri] {
		if _, ok := matched[r.ID]; ok && r.Stop && r.On == rule.On && x.When.Value == true {
			x.Verdict, x.StoppedBy = VerdictStopped, r.ID
			return x
		}
	}
	x.Verdict = VerdictNotMatched
	return x
}

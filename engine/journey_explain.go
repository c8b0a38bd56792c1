package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// explainStep explains a step of pb's journey for a customer at req.At:
// where they are in the journey (not in it, and whether they may enter;
// waiting for the step; past it), and for a step due, exactly what a pass
// would decide (exit_when, the step's when, holdout, consent and the
// contact policy), each condition with the entry's attributes.
func (e *Engine) explainStep(ctx context.Context, pb *rules.Playbook, req ExplainRequest) (*evaluate.Explanation, error) {
	j := pb.Journey
	states, err := e.store.JourneyStates(ctx, pb.Name, []string{req.CustomerID})
	if err != nil {
		return nil, err
	}
	st, was := states[req.CustomerID]
	k := -1
	if req.Rule == "" {
		// Their next step; for a customer not in the journey, the first.
		req.Rule = j.Steps[0].ID
		if was && st.Status == domain.JourneyEntered {
			req.Rule = st.NextStep
		}
	}
	for i, s := range j.Steps {
		if s.ID == req.Rule {
			k = i
		}
	}
	if k < 0 {
		ids := make([]string, len(j.Steps))
		for i, s := range j.Steps {
			ids[i] = s.ID
		}
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("journey %s has no step %q (steps: %v)", pb.Name, req.Rule, ids)}
	}
	step := j.Steps[k]
	snap, err := e.journeySnapshot(ctx, []string{req.CustomerID}, req.At)
	if err != nil {
		return nil, err
	}
	pos, ok := snap.SparseIndex(req.CustomerID)
	if !ok {
		return nil, notInPond(snap.Pond(), req.CustomerID, req.At)
	}
	p := snap.Profile(pos)
	jx := &evaluate.JourneyExplanation{On: j.EnterOn}
	x := &evaluate.Explanation{Playbook: pb.Name, Rule: step.ID, CustomerID: req.CustomerID, At: req.At, InAudience: true, Journey: jx,
		State: evaluate.ExplainState{Holdout: evaluate.InHoldout(pb.Name, req.CustomerID, pb.HoldoutBP), Channels: evaluate.RuleChannels(step, -1)}}
	if was {
		jx.State = &st
	}
	// The step's fires for the customer, one per entry at most.
	fires, err := e.store.ListFires(ctx, domain.FireFilter{Playbook: pb.Name, Rule: step.ID, CustomerID: req.CustomerID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, f := range fires {
		x.State.Fires++
		if x.State.LastFire == nil || f.At.After(*x.State.LastFire) {
			at := f.At
			x.State.LastFire = &at
		}
	}
	if !was || st.Status != domain.JourneyEntered {
		// Not in the journey: what entering asks of them now.
		x.Verdict = evaluate.VerdictNotEntered
		jx.MayEnter = !was || mayReenter(j, st, req.At)
		if j.EnterWhen != nil {
			jx.Enter = j.EnterWhen.Explain(p)
		}
		x.When = explainWhen(step, p)
		return x, nil
	}
	p.SetEntry(st.EnteredAt)
	if j.ExitWhen != nil {
		jx.Exit = j.ExitWhen.Explain(p)
	}
	x.When = explainWhen(step, p)
	due := st.EnteredAt.Add(step.After)
	jx.DueAt = &due
	x.State.Holdout = st.Holdout
	at := stepIndex(j, st)
	switch {
	case at >= 0 && k < at:
		x.Verdict = evaluate.VerdictPassed
		return x, nil
	case st.DueAt.After(req.At), due.After(req.At):
		// Their next step is not due yet, or this one is not.
		x.Verdict = evaluate.VerdictWaiting
		return x, nil
	}
	// Due now: decided as a pass would; none is taken while a pass of
	// the journey waits for a decision.
	waiting, err := e.journeyHeld(ctx, pb.Name, req.At)
	if err != nil {
		return nil, err
	}
	if waiting {
		x.Verdict, x.Reason = evaluate.VerdictSuppressed, evaluate.ReasonBlastGuard
		return x, nil
	}
	// A pass takes the earlier due steps first (late steps, in order):
	// followed here, as the pass would decide them, up to this one.
	sw := sweep{due: req.At, at: req.At}
	counts := evaluate.NewCounts(journeySteps(pb))
	mv := e.planSteps(pb, snap, []domain.JourneyState{st}, sw, counts)[0]
	for mv.step >= 0 && mv.step < k {
		if mv.next.Status != domain.JourneyEntered {
			// It left (exit_when) before reaching this step.
			x.Verdict, x.Reason = evaluate.VerdictSuppressed, ReasonExited
			return x, nil
		}
		st.NextStep, st.DueAt = mv.next.NextStep, mv.next.DueAt
		counts = evaluate.NewCounts(journeySteps(pb))
		mv = e.planSteps(pb, snap, []domain.JourneyState{st}, sw, counts)[0]
	}
	if mv.step != k {
		x.Verdict = evaluate.VerdictWaiting // behind a step an edit removed
		return x, nil
	}
	switch {
	case mv.fire && st.Holdout:
		x.Verdict = evaluate.VerdictHoldout
	case mv.fire:
		x.Verdict = evaluate.VerdictFires
		if mv.variant >= 0 {
			x.Variant = step.Variants[mv.variant].ID
		}
		if mv.deliverAt > 0 {
			t := time.UnixMilli(mv.deliverAt)
			x.DeliverAt = &t
			for reason, n := range counts[k].Deferred {
				if n > 0 {
					x.Reason = reason // quiet_hours or cap: one decision, one reason
				}
			}
		}
	case mv.note.Outcome == evaluate.OutcomeError:
		x.Verdict, x.Reason = evaluate.VerdictError, mv.note.Error
	case mv.note.Reason == ReasonStepWhen:
		x.Verdict = evaluate.VerdictNotMatched
	default:
		x.Verdict, x.Reason = evaluate.VerdictSuppressed, mv.note.Reason
	}
	return x, nil
}

// explainWhen explains a step's when; a step without one always holds.
func explainWhen(step *rules.Rule, p any) *rules.Step {
	if step.When == nil {
		return &rules.Step{Expr: "true", Value: true}
	}
	return step.When.Explain(p)
}

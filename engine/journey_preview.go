package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// journeyPreviewSample is how many entering customers a preview names.
const journeyPreviewSample = 20

// JourneyPreview is what a pass of a journey would do at a moment, with
// nothing written: who would enter on its schedule, and what each due
// step would do (per step, as a run counts it: fired is would fire).
type JourneyPreview struct {
	Journey string `json:"journey"`
	// Entering counts the customers who would enter on the schedule; the
	// sample names some. A journey entered on an event has none here:
	// its customers enter as their events arrive.
	Entering       int                    `json:"entering"`
	EnteringSample []string               `json:"entering_sample,omitempty"`
	Steps          []*evaluate.RuleCounts `json:"steps"`
	// WouldFire counts the due steps that would fire; Limit is the blast
	// guard's bound of a pass (limits.max_fires of the pond), and Held
	// says the pass would be held for approval.
	WouldFire int  `json:"would_fire"`
	Limit     int  `json:"limit"`
	Held      bool `json:"held"`
	// Waiting says a pass of the journey is held already: until it is
	// decided, passes take no step.
	Waiting bool `json:"waiting,omitempty"`
}

// PreviewJourney previews a pass of pb's journey at at: the entries its
// schedule would make (and their first step, when it is due at entry),
// and every step due by then, each decided as a pass
// would decide it (exit_when, its when, holdout, the contact policy). A
// customer's later steps that a late pass would also take are counted
// too, decided on the same profile.
func (e *Engine) PreviewJourney(ctx context.Context, pb *rules.Playbook, at time.Time) (*JourneyPreview, error) {
	j := pb.Journey
	if j == nil {
		return nil, &domain.Error{Code: domain.EInvalid, Message: fmt.Sprintf("playbook %s has no journey", pb.Name)}
	}
	out := &JourneyPreview{Journey: pb.Name, Steps: evaluate.NewCounts(journeySteps(pb))}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	out.Limit = Limit(pb, pond.Len())
	if out.Waiting, err = e.journeyHeld(ctx, pb.Name, at); err != nil {
		return nil, err
	}
	if j.EnterOn == "" && j.EnterWhen != nil {
		entries, err := e.scheduledEntries(ctx, pb, at)
		if err != nil {
			return nil, err
		}
		out.Entering = len(entries)
		for _, st := range entries[:min(len(entries), journeyPreviewSample)] {
			out.EnteringSample = append(out.EnteringSample, st.CustomerID)
		}
		// Those entering take their first step in the same pass when it
		// is due at once (after: 0m): decided here as the pass would.
		if len(entries) > 0 && j.Steps[0].After <= 0 {
			ids := make([]string, len(entries))
			for i, st := range entries {
				ids[i] = st.CustomerID
			}
			snap, err := e.journeySnapshot(ctx, ids, at)
			if err != nil {
				return nil, err
			}
			counts := evaluate.NewCounts(journeySteps(pb))
			out.addPlanned(e.planSteps(pb, snap, entries, sweep{due: at, at: at}, counts), counts)
		}
	}
	_, counts, _, err := e.planPass(ctx, pb, sweep{due: at, at: at}, false)
	if err != nil {
		return nil, err
	}
	for i, c := range counts {
		out.Steps[i].Add(c)
		out.WouldFire += c.Fired
	}
	out.Held = out.WouldFire > out.Limit
	return out, nil
}

// addPlanned adds planned moves and the counts of their deciding, and
// counts what the writing would: a step that fires, or is held out.
func (out *JourneyPreview) addPlanned(moves []journeyMove, counts []*evaluate.RuleCounts) {
	for i, c := range counts {
		out.Steps[i].Add(c)
	}
	for _, mv := range moves {
		switch {
		case !mv.fire:
		case mv.from.Holdout:
			out.Steps[mv.step].Suppress(evaluate.ReasonHoldout, 1)
		default:
			out.Steps[mv.step].Fired++
			out.WouldFire++
		}
	}
}

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// journeyHeld reports whether a pass of the journey is held, waiting for
// a decision.
func (e *Engine) journeyHeld(ctx context.Context, journey string) (bool, error) {
	runs, err := e.store.ListRuns(ctx, domain.RunFilter{Playbook: journey, Status: RunHeld, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("read held runs: %w", err)
	}
	return len(runs) > 0, nil
}

// guardJourney applies the blast guard to sw's due steps: when they would
// fire more than limits.max_fires of the pond, it holds the pass (the run
// records what would fire, and the steps stay due) and reports true.
// Counting costs a pass of reading only when more steps are due than the
// limit: fewer cannot exceed it.
func (e *Engine) guardJourney(ctx context.Context, pb *rules.Playbook, sw sweep, pass *journeyPass) (bool, error) {
	run := pass.run
	pond, err := e.currentPond(ctx)
	if err != nil {
		return false, err
	}
	run.Limit = Limit(pb, pond.Len())
	due, err := e.store.CountDueJourneySteps(ctx, pb.Name, sw.due)
	if err != nil || due <= run.Limit {
		return false, err
	}
	steps := pb.Journey.Steps
	counts := evaluate.NewCounts(journeySteps(pb))
	var held []domain.HeldFire
	fires := 0
	var after domain.DueCursor
	for {
		b := <-e.planBatch(ctx, pb, sw, after)
		if b.err != nil {
			return false, b.err
		}
		if b.done {
			break
		}
		after = b.next
		for i, c := range b.counts {
			counts[i].Add(c)
		}
		for _, mv := range b.moves {
			if !mv.fire {
				continue
			}
			h := domain.HeldFire{Rule: steps[mv.step].ID, CustomerID: mv.from.CustomerID, Seq: mv.from.Entry, Holdout: mv.from.Holdout}
			if h.Holdout {
				counts[mv.step].Suppress(evaluate.ReasonHoldout, 1)
			} else {
				fires++
				counts[mv.step].Suppress(evaluate.ReasonBlastGuard, 1)
				if mv.variant >= 0 {
					h.Variant = steps[mv.step].Variants[mv.variant].ID
				}
				if mv.deliverAt > 0 {
					t := time.UnixMilli(mv.deliverAt)
					h.DeliverAt = &t
				}
			}
			held = append(held, h)
		}
	}
	if fires <= run.Limit {
		return false, nil
	}
	if err := pass.start(ctx); err != nil {
		return false, err
	}
	for i, c := range counts {
		run.Rules[i].Add(c)
	}
	run.Status = RunHeld
	run.Error = fmt.Sprintf("held by the blast guard: the journey's due steps would fire %d times, over limits.max_fires %d; until it is decided its steps wait (koi approve %d, or koi reject %d)", fires, run.Limit, run.ID, run.ID)
	expires := time.Now().Add(e.cfg.HeldFor)
	run.ExpiresAt = &expires
	if err := e.store.HoldRun(ctx, run.ID, held, expires); err != nil {
		return false, fmt.Errorf("hold run: %w", err)
	}
	return true, e.finish(ctx, run)
}

// heldSteps keeps the due steps a held pass held: the customer's entry
// still at the step it was held at.
func heldSteps(held []domain.HeldFire) func(domain.JourneyState) bool {
	type key struct {
		customer, step string
		entry          int
	}
	keep := make(map[key]bool, len(held))
	for _, h := range held {
		keep[key{h.CustomerID, h.Rule, h.Seq}] = true
	}
	return func(st domain.JourneyState) bool { return keep[key{st.CustomerID, st.NextStep, st.Entry}] }
}

// approveJourney takes the steps a held pass of pb's journey held, each
// still due and at its step, decided again now (exit_when, when, consent
// and the contact policy at the time of the approval: the customers may
// have moved on), with the guard lifted, into the held run.
func (e *Engine) approveJourney(ctx context.Context, pb *rules.Playbook, run *Run, held []domain.HeldFire, now time.Time) (*Run, error) {
	e.journeyMu.Lock()
	defer e.journeyMu.Unlock()
	run.Rules = evaluate.NewCounts(journeySteps(pb))
	run.Status, run.Error, run.ExpiresAt = RunRunning, "", nil
	pass := &journeyPass{e: e, run: run}
	if err := e.sweepJourney(ctx, pb, sweep{due: run.At, at: now, keep: heldSteps(held)}, pass); err != nil {
		run.Status, run.Error = RunFailed, err.Error()
		_ = e.finish(ctx, run)
		return run, err
	}
	run.Status = RunDone
	return run, e.finish(ctx, run)
}

// rejectJourney passes the steps a rejected pass of pb's journey held:
// their customers go on to their next steps, as if those steps had been
// skipped. Left due, the next pass would take them.
func (e *Engine) rejectJourney(ctx context.Context, pb *rules.Playbook, run *Run, held []domain.HeldFire, now time.Time) error {
	e.journeyMu.Lock()
	defer e.journeyMu.Unlock()
	scratch := &Run{ID: run.ID, Playbook: pb.Name, Rules: evaluate.NewCounts(journeySteps(pb))}
	return e.sweepJourney(ctx, pb, sweep{due: run.At, at: now, keep: heldSteps(held), pass: true}, &journeyPass{e: e, run: scratch})
}

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

// ApprovalLease is how long an approval under way keeps a journey's
// passes off its steps, counted from the decision: an approving process
// that died must not block the journey for good. Past it, the store's
// housekeeping (ExpireHeldRuns) marks the approval interrupted, and the
// steps it did not take are looked at afresh.
const ApprovalLease = 10 * time.Minute

// journeyHeld reports whether a pass of the journey at at waits for a
// decision (held, or being approved): until then no pass takes a step.
func (e *Engine) journeyHeld(ctx context.Context, journey string, at time.Time) (bool, error) {
	return e.store.JourneyWaiting(ctx, journey, at)
}

// guardJourney applies the blast guard to sw's due steps: when they would
// fire more than limits.max_fires of the pond, it holds the pass (the run
// records what would fire, and the steps stay due) and reports true. A
// customer behind by several steps takes them all in one pass, so each
// counts. Counting costs a pass of reading only when the steps due could
// exceed the limit: customers due times steps of the journey.
func (e *Engine) guardJourney(ctx context.Context, pb *rules.Playbook, sw sweep, pass *journeyPass) (bool, error) {
	run := pass.run
	pond, err := e.currentPond(ctx)
	if err != nil {
		return false, err
	}
	run.Limit = Limit(pb, pond.Len())
	due, err := e.store.CountDueJourneySteps(ctx, pb.Name, sw.due)
	if err != nil || int64(due)*int64(len(pb.Journey.Steps)) <= int64(run.Limit) {
		return false, err
	}
	held, counts, fires, err := e.planPass(ctx, pb, sw, true)
	if err != nil || fires <= run.Limit {
		return false, err
	}
	if err := pass.start(ctx); err != nil {
		return false, err
	}
	for i, c := range counts {
		// Nothing fires: every would-be fire is counted as stopped.
		c.Suppress(evaluate.ReasonBlastGuard, c.Fired)
		c.Fired = 0
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

// planPass decides, writing nothing, every step sw's pass would take:
// each customer's due step, and the later ones that are due too (decided
// on the same profile, as the pass would decide them). It returns them as
// held fires (holdouts among them), the counts as the pass would count
// them, and how many would fire.
//
// With upperBound (the blast guard's count), a later step skipped by its
// when is counted as firing: its when may read what the earlier steps of
// the same pass change.
func (e *Engine) planPass(ctx context.Context, pb *rules.Playbook, sw sweep, upperBound bool) ([]domain.HeldFire, []*evaluate.RuleCounts, int, error) {
	steps := pb.Journey.Steps
	counts := evaluate.NewCounts(journeySteps(pb))
	var held []domain.HeldFire
	fires := 0
	var after domain.DueCursor
	for {
		b := <-e.planBatch(ctx, pb, sw, after)
		if b.err != nil {
			return nil, nil, 0, b.err
		}
		if b.done {
			return held, counts, fires, nil
		}
		after = b.next
		for i, c := range b.counts {
			counts[i].Add(c)
		}
		for moves, later := b.moves, false; len(moves) > 0; later = true {
			var next []domain.JourneyState
			for _, mv := range moves {
				if mv.next.Status == domain.JourneyEntered && !mv.next.DueAt.After(sw.due) {
					st := mv.from
					st.NextStep, st.DueAt = mv.next.NextStep, mv.next.DueAt
					next = append(next, st)
				}
				if upperBound && later && !mv.fire && mv.note.Reason == ReasonStepWhen {
					// Decided on the profile from before the pass, a later
					// step's when cannot see what the earlier steps will
					// have done (a tag, a coupon): the bound counts it.
					mv.fire = true
					counts[mv.step].Suppressed[ReasonStepWhen]--
				}
				if !mv.fire {
					continue
				}
				h := domain.HeldFire{Rule: steps[mv.step].ID, CustomerID: mv.from.CustomerID, Seq: mv.from.Entry, Holdout: mv.from.Holdout}
				if h.Holdout {
					counts[mv.step].Suppress(evaluate.ReasonHoldout, 1)
				} else {
					fires++
					counts[mv.step].Fired++
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
			moves = nil
			if len(next) > 0 {
				c := evaluate.NewCounts(journeySteps(pb))
				moves = e.planSteps(pb, b.snap, next, sw, c)
				for i := range c {
					counts[i].Add(c[i])
				}
			}
		}
	}
}

// heldSteps keeps the due steps of a held pass: for each customer's
// entry with held steps, every step up to the last of them (the steps
// between, which the pass would have skipped or passed without firing,
// are the pass's too: left out, a sweep would stop at them).
func heldSteps(j *rules.Journey, held []domain.HeldFire) func(domain.JourneyState) bool {
	type key struct {
		customer string
		entry    int
	}
	index := make(map[string]int, len(j.Steps))
	for i, s := range j.Steps {
		index[s.ID] = i
	}
	last := make(map[key]int, len(held))
	for _, h := range held {
		if i, ok := index[h.Rule]; ok {
			k := key{h.CustomerID, h.Seq}
			if prev, seen := last[k]; !seen || i > prev {
				last[k] = i
			}
		}
	}
	return func(st domain.JourneyState) bool {
		upTo, held := last[key{st.CustomerID, st.Entry}]
		i, ok := index[st.NextStep]
		return held && ok && i <= upTo
	}
}

// approveJourney takes the steps a held pass of pb's journey held, each
// still due and at its step, decided again now (exit_when, when, consent
// and the contact policy at the time of the approval: the customers may
// have moved on), with the guard lifted, into the held run.
// The caller holds journeyMu.
func (e *Engine) approveJourney(ctx context.Context, pb *rules.Playbook, run *Run, held []domain.HeldFire, now time.Time) (*Run, error) {
	run.Rules = evaluate.NewCounts(journeySteps(pb))
	run.Status, run.Error, run.ExpiresAt = RunRunning, "", nil
	pass := &journeyPass{e: e, run: run}
	if err := e.sweepJourney(ctx, pb, sweep{due: run.At, at: now, keep: heldSteps(pb.Journey, held)}, pass); err != nil {
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
// The caller holds journeyMu.
func (e *Engine) rejectJourney(ctx context.Context, pb *rules.Playbook, run *Run, held []domain.HeldFire, now time.Time) error {
	scratch := &Run{ID: run.ID, Playbook: pb.Name, Rules: evaluate.NewCounts(journeySteps(pb))}
	return e.sweepJourney(ctx, pb, sweep{due: run.At, at: now, keep: heldSteps(pb.Journey, held), pass: true}, &journeyPass{e: e, run: scratch})
}

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
)

// heldSample is how many would-be fires a held run shows for deciding.
const heldSample = 20

// GetRun returns a run with its per-rule counts, and a sample of what it
// would fire when it is held.
func (e *Engine) GetRun(ctx context.Context, id int64) (*Run, error) {
	r, err := e.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status == RunHeld {
		if r.Sample, err = e.store.HeldFires(ctx, id, heldSample); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Sweep does the housekeeping of time passing: held runs past their
// expiry expire, and coupons past theirs are marked expired.
func (e *Engine) Sweep(ctx context.Context, now time.Time) error {
	if _, err := e.store.ExpireHeldRuns(ctx, now); err != nil {
		return err
	}
	_, err := e.store.ExpireCoupons(ctx, now)
	return err
}

// Reject discards a held run: nothing of it fires. by names who decided.
// A journey's held steps are passed: each customer goes on to their next
// step as if the held one had been skipped.
func (e *Engine) Reject(ctx context.Context, id int64, by string, now time.Time) (*Run, error) {
	if _, err := e.store.ExpireHeldRuns(ctx, now); err != nil {
		return nil, err
	}
	// A journey's held steps are passed, not left due for the next pass,
	// before the decision (which drops them): while the run is still held
	// no pass takes a step, and a rejection cut short by a crash is
	// finished by rejecting again.
	if run, err := e.store.GetRun(ctx, id); err == nil && run.Status == RunHeld {
		if pb, ok := e.Playbook(run.Playbook); ok && pb.Journey != nil {
			e.journeyMu.Lock()
			defer e.journeyMu.Unlock()
			held, err := e.store.HeldFires(ctx, id, 0)
			if err != nil {
				return nil, err
			}
			if err := e.rejectJourney(ctx, pb, run, held, now); err != nil {
				return run, fmt.Errorf("pass the rejected steps: %w", err)
			}
		}
	}
	if err := e.store.DecideRun(ctx, id, []string{RunHeld}, RunRejected, by, now); err != nil {
		return nil, err
	}
	return e.GetRun(ctx, id)
}

// Approve releases a held run exactly as it was computed: the same
// customers, rules, variants and delivery times, with profiles as of the
// run's moment for its messages. Consent is checked again, because an
// opt-out is absolute; a fire another run wrote meanwhile is not written
// twice. The playbook must be the version that was held. by names who
// approved. A journey's held pass takes the steps it held, each still due
// and at its step, decided again at now (see approveJourney).
func (e *Engine) Approve(ctx context.Context, id int64, by string, now time.Time) (*Run, error) {
	if _, err := e.store.ExpireHeldRuns(ctx, now); err != nil {
		return nil, err
	}
	run, err := e.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.Status != RunHeld {
		return run, &domain.Error{Code: domain.EConflict, Message: fmt.Sprintf("run %d is %s: only a held run can be approved", id, run.Status)}
	}
	pbs, err := e.selectPlaybooks([]string{run.Playbook})
	if err != nil {
		return run, &domain.Error{Code: domain.EConflict, Message: fmt.Sprintf("run %d: playbook %s is no longer loaded", id, run.Playbook)}
	}
	pb := pbs[0]
	if pb.Hash != run.Hash {
		return run, &domain.Error{Code: domain.EConflict, Message: fmt.Sprintf("run %d: playbook %s changed since it was held (version %s, now %s); run it again to see what the new version would do", id, pb.Name, run.Hash, pb.Hash)}
	}
	held, err := e.store.HeldFires(ctx, id, 0)
	if err != nil {
		return run, err
	}
	if pb.Journey != nil {
		// No pass of the journey takes a step between the decision and the
		// release (in another process, the held fires kept until the end
		// say the pass waits: JourneyWaiting).
		e.journeyMu.Lock()
		defer e.journeyMu.Unlock()
	}
	if err := e.store.DecideRun(ctx, id, []string{RunHeld}, RunRunning, by, now); err != nil {
		return run, err
	}
	run.DecidedBy, run.DecidedAt = by, &now
	if pb.Journey != nil {
		return e.approveJourney(ctx, pb, run, held, now)
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return run, err
	}
	release, err := e.holdSnapshot(ctx)
	if err != nil {
		return run, err
	}
	defer release()
	e.pondMu.RLock()
	snap := profile.RecomputeSnapshot(e.takeSpare(), pond, run.At, e.cfg.Profile)
	e.pondMu.RUnlock()
	defer e.putSpare(snap)
	marks, err := e.marks(ctx, pb, pond)
	if err != nil {
		return run, err
	}
	ev := evaluate.Release(pb, snap, held, run.Rules, marks)
	for _, c := range run.Rules {
		delete(c.Suppressed, evaluate.ReasonBlastGuard)
		c.Fired = 0
	}
	run.Status, run.Error = RunRunning, ""
	if _, err := e.write(ctx, pb, snap, run, ev); err != nil {
		run.Status, run.Error = RunFailed, err.Error()
		_ = e.finish(ctx, run)
		return run, err
	}
	run.Status = RunDone
	return run, e.finish(ctx, run)
}

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// heldSample is how many would-be fires a held run shows for deciding.
const heldSample = 20

// heldFires lists an evaluation's decisions for keeping with a held run.
func heldFires(pb *rules.Playbook, snap *profile.Snapshot, ev *evaluate.Evaluation) []HeldFire {
	out := make([]HeldFire, len(ev.Decisions))
	for k, d := range ev.Decisions {
		r := pb.Rules[d.Rule]
		h := HeldFire{Rule: r.ID, CustomerID: snap.Profile(int(d.Cust)).ID, Seq: int(d.Seq), GroupSeq: ev.GroupSeq(pb, snap, d), Holdout: d.Holdout}
		if d.Variant >= 0 {
			h.Variant = r.Variants[d.Variant].ID
		}
		if d.DeliverAt != 0 {
			t := time.UnixMilli(d.DeliverAt)
			h.DeliverAt = &t
		}
		out[k] = h
	}
	return out
}

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
func (e *Engine) Reject(ctx context.Context, id int64, by string, now time.Time) (*Run, error) {
	if _, err := e.store.ExpireHeldRuns(ctx, now); err != nil {
		return nil, err
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
// approved.
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
	if err := e.store.DecideRun(ctx, id, []string{RunHeld}, RunRunning, by, now); err != nil {
		return run, err
	}
	run.DecidedBy, run.DecidedAt = by, &now
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
	ev := releaseHeld(pb, snap, held, run)
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

// releaseHeld turns a held run's fires back into decisions, leaving out
// customers deleted since and, counted as consent, those who opted out of
// a channel the fire messages on.
func releaseHeld(pb *rules.Playbook, snap *profile.Snapshot, held []HeldFire, run *Run) *evaluate.Evaluation {
	// The group numbers the run computed stand in for the marks it read:
	// writing takes a grouped fire's number from its group's mark.
	ev := &evaluate.Evaluation{Counts: evaluate.NewCounts(pb), Marks: &evaluate.Marks{}}
	ruleIdx := map[string]int{}
	for i, r := range pb.Rules {
		ruleIdx[r.ID] = i
	}
	byRule := map[string]*evaluate.RuleCounts{}
	for _, c := range run.Rules {
		byRule[c.Rule] = c
	}
	for _, h := range held {
		ri, ok := ruleIdx[h.Rule]
		i, found := snap.Pond().Lookup(h.CustomerID)
		if !ok || !found {
			continue
		}
		r := pb.Rules[ri]
		variant := -1
		for k, v := range r.Variants {
			if v.ID == h.Variant {
				variant = k
			}
		}
		if variant < 0 && len(r.Variants) > 0 {
			variant = evaluate.VariantOf(pb.Name, r, h.CustomerID) // a holdout's, for its channels
		}
		if _, no := policy.WithoutConsent(profile.OptOutOf(snap.Profile(i)), evaluate.RuleChannels(r, variant)); no {
			if c := byRule[h.Rule]; c != nil {
				c.Suppress(policy.ReasonConsent, 1)
			}
			continue
		}
		if r.Group != "" {
			ev.Marks.NoteGroupFire(r.Group, h.CustomerID, time.Time{}, h.GroupSeq-1, "")
		}
		d := evaluate.Decision{Cust: int32(i), Rule: int16(ri), Seq: int32(h.Seq), Variant: int16(variant), Holdout: h.Holdout}
		if h.DeliverAt != nil {
			d.DeliverAt = h.DeliverAt.UnixMilli()
		}
		ev.Decisions = append(ev.Decisions, d)
	}
	return ev
}

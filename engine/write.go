package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/stage"
	"github.com/koihq/koi/rules"
)

// write records the decisions of an evaluation, a batch per transaction.
// Within a batch the fires are inserted first, then each fire's actions run
// against staged effects; a fire whose action fails is deleted again and
// its staged effects dropped, so it changes nothing and the rest of the
// batch stands. The batch's effects are written with a few multi-row
// statements.
//
// Batches end between customers, so one customer's fires in a playbook
// commit together. write returns whom it changed, and what: the caller
// refreshes their profiles for the playbooks after this one.
func (e *Engine) write(ctx context.Context, pb *rules.Playbook, snap *profile.Snapshot, run *Run, ev *evaluate.Evaluation) (touched []profile.Touch, err error) {
	written := 0
	for start := 0; start < len(ev.Decisions); {
		if err := ctx.Err(); err != nil {
			return touched, err
		}
		end := min(start+e.cfg.BatchSize, len(ev.Decisions))
		for end < len(ev.Decisions) && ev.Decisions[end].Cust == ev.Decisions[end-1].Cust {
			end++
		}
		chunk := ev.Decisions[start:end]
		start = end
		var muts []profile.Change
		var kept []keptFire
		var delta []*evaluate.RuleCounts
		var jobs int
		e.writeMu.Lock()
		version, err := e.store.WriteFires(ctx, snap.Now, func(tx FireTx) error {
			delta = evaluate.NewCounts(pb)
			var err error
			muts, kept, jobs, err = e.writeBatch(ctx, tx, pb, snap, run, ev, chunk, delta, &e.batchMem)
			return err
		})
		if err == nil {
			e.noteFires(snap, kept)
			e.applyMutations(snap, muts, version)
			for _, m := range muts {
				touched = append(touched, profile.Touch{Cust: int32(m.Cust), Kind: m.Kind()})
			}
		}
		e.writeMu.Unlock()
		if err != nil {
			return touched, fmt.Errorf("write fires: %w", err)
		}
		if jobs > 0 && e.cfg.JobsQueued != nil {
			e.cfg.JobsQueued(jobs)
		}
		for i, c := range delta {
			run.Rules[i].Add(c)
		}
		written += len(chunk)
		if e.cfg.AfterBatch != nil {
			e.cfg.AfterBatch(pb.Name, written)
		}
	}
	return touched, nil
}

// batchMemory is what a batch of fires leaves for the next to reuse, in
// the same playbook or the next: its staging and its fires. Nothing of a
// batch refers to it once the batch has committed and its changes are
// applied, under writeMu (the fire history copies what it keeps of the
// fires).
type batchMemory struct {
	staged *stage.Effects
	fires  []domain.Fire
	ptrs   []*domain.Fire
}

// writeBatch records one batch of decisions in tx and returns the in-memory
// changes to apply once it commits, the fires it kept (for the fire
// history) and how many jobs it enqueued, in the memory mem of the batch
// before, which it leaves its own in.
func (e *Engine) writeBatch(ctx context.Context, tx FireTx, pb *rules.Playbook, snap *profile.Snapshot, run *Run, ev *evaluate.Evaluation, chunk []evaluate.Decision, counts []*evaluate.RuleCounts, mem *batchMemory) ([]profile.Change, []keptFire, int, error) {
	fromPond := e.pondIsCurrent(snap.Pond(), tx.BaseVersion())
	if !fromPond || snap.CustomersRemoved() {
		// A customer may have been merged into another or deleted since
		// the run read the pond: by another process (the pond is behind),
		// or by this one (the pond followed). Their decisions go (the
		// survivor's own are decided on the merged history by the next
		// run): nothing may be written under an id that is gone.
		var err error
		if chunk, err = dropGone(tx, snap, fromPond, chunk, counts); err != nil {
			return nil, nil, 0, err
		}
	}
	if run.marked {
		// A customer merged with another since the run read their history
		// has a history it did not decide on: their once, cooldowns and
		// caps must count the merged fires, which the next run does.
		merged, err := tx.MergedSince(run.mergeMark)
		if err != nil {
			return nil, nil, 0, err
		}
		if len(merged) > 0 {
			chunk = keepDecisions(snap, chunk, counts, evaluate.ReasonMerged, func(_ int, id string) bool { return !merged[id] })
		}
	}
	mem.fires = slices.Grow(mem.fires[:0], len(chunk))[:len(chunk)]
	mem.ptrs = slices.Grow(mem.ptrs[:0], len(chunk))[:len(chunk)]
	fires := mem.ptrs
	for i, d := range chunk {
		f := &mem.fires[i]
		*f = domain.Fire{RunID: run.ID, Playbook: pb.Name, Rule: pb.Rules[d.Rule].ID, CustomerID: snap.ID(int(d.Cust)),
			Seq: int(d.Seq), Status: domain.FireFired, At: snap.Now, Hash: pb.Hash, Group: pb.Rules[d.Rule].Group, GroupSeq: int(d.GroupSeq)}
		if d.Holdout {
			f.Status = domain.FireHoldout
		}
		if d.Variant >= 0 && !d.Holdout {
			f.Variant = pb.Rules[d.Rule].Variants[d.Variant].ID
		}
		fires[i] = f
	}
	inserted, err := tx.InsertFires(fires)
	if err != nil {
		return nil, nil, 0, err
	}
	for i, f := range fires {
		if inserted[i] {
			run.noteFire(f.ID)
		}
	}
	fx := stage.Reuse(mem.staged, tx, snap, fromPond, len(chunk))
	mem.staged = fx
	fx.MaxAttempts, fx.HasWorker, fx.Guides, fx.TagSync = e.cfg.MaxAttempts, e.registry.HasWorker, e.cfg.Guides, e.cfg.TagSync
	if !fx.FromPond() {
		for i, d := range chunk {
			if inserted[i] && !d.Holdout {
				fx.Prefetch(fires[i].CustomerID)
			}
		}
	}
	var failed []int64
	// The profile is filled only if an action asks for it (a message
	// template): most never look.
	actor := newFireActor(snap)
	for i, d := range chunk {
		r, c := pb.Rules[d.Rule], counts[d.Rule]
		switch {
		case !inserted[i]:
			// Another run claimed this (rule, customer, seq) after we read the marks.
			c.Suppress(evaluate.CollisionReason(r), 1)
			continue
		case d.Holdout:
			continue
		}
		var delay time.Duration
		if d.DeliverAt > 0 {
			delay = time.Duration(d.DeliverAt-snap.Now.UnixMilli()) * time.Millisecond
		}
		if err := actor.do(ctx, r, int(d.Variant), fires[i], int(d.Cust), fx, delay); err != nil {
			fx.Discard()
			if err := fx.Fatal(); err != nil {
				return nil, nil, 0, err // the store failed, not the action
			}
			c.Fail(fires[i].CustomerID + ": " + err.Error())
			failed = append(failed, fires[i].ID)
			continue
		}
		fx.Keep()
		c.Fired++
	}
	if err := tx.DeleteFires(failed); err != nil {
		return nil, nil, 0, err
	}
	if err := tx.ApplyEffects(fx.Out()); err != nil {
		return nil, nil, 0, err
	}
	var kept []keptFire
	for i, f := range fires {
		if inserted[i] && !slices.Contains(failed, f.ID) {
			kept = append(kept, keptFire{pos: int(chunk[i].Cust), fire: f})
		}
	}
	return fx.Changes(), kept, len(fx.Out().Jobs), nil
}

// dropGone returns the decisions of chunk whose customers still exist,
// counting the others' as suppressed (evaluate.ReasonGone): as the pond
// says when it is current, else as tx does.
func dropGone(tx FireTx, snap *profile.Snapshot, fromPond bool, chunk []evaluate.Decision, counts []*evaluate.RuleCounts) ([]evaluate.Decision, error) {
	exists := func(pos int, id string) bool { _, ok := snap.Pond().LookupAt(pos, id); return ok }
	if !fromPond {
		ids := make([]string, len(chunk))
		for i, d := range chunk {
			ids[i] = snap.ID(int(d.Cust))
		}
		states, err := tx.CustomerStates(ids)
		if err != nil {
			return nil, err
		}
		exists = func(_ int, id string) bool { _, ok := states[id]; return ok }
	}
	return keepDecisions(snap, chunk, counts, evaluate.ReasonGone, exists), nil
}

// keepDecisions returns the decisions of chunk whose customers keep says
// to keep, counting the others' as suppressed for reason. keep gets each
// customer's index in the snapshot's pond and id.
func keepDecisions(snap *profile.Snapshot, chunk []evaluate.Decision, counts []*evaluate.RuleCounts, reason string, keep func(pos int, id string) bool) []evaluate.Decision {
	live := chunk[:0:0]
	for _, d := range chunk {
		if keep(int(d.Cust), snap.ID(int(d.Cust))) {
			live = append(live, d)
			continue
		}
		counts[d.Rule].Suppress(reason, 1)
	}
	return live
}

// fireActor does fires' actions, one fire after another, in one
// actions.Fire it reuses: allocating one, with a profile closure and a
// results map, for every fire was a tenth of what a run allocated at a
// million customers, and what a run allocates decides how often a
// collection lands in one. (The fire's key is still built for each.) An action sees the Fire only during its Do (see
// actions.Fire), so nothing refers to it once the fire is done.
type fireActor struct {
	snap *profile.Snapshot
	fire actions.Fire
	// pos is the current fire's customer's index in the pond of snap,
	// read by the profile function, made once.
	pos int
	// results is the results map the fires share, one after another.
	results map[string]actions.Result
}

// newFireActor returns a fireActor for fires decided on snap.
func newFireActor(snap *profile.Snapshot) *fireActor {
	a := &fireActor{snap: snap}
	a.fire.ProfileFunc = func() map[string]any { return a.snap.Profile(a.pos).Values() }
	return a
}

// do does a fire's actions: the rule's, then its variant's. pos is the
// index of the fire's customer in the pond the snapshot read.
func (a *fireActor) do(ctx context.Context, r *rules.Rule, variant int, f *domain.Fire, pos int, fx *stage.Effects, delay time.Duration) error {
	acts := r.Actions
	if variant >= 0 {
		acts = append(slices.Clip(acts), r.Variants[variant].Actions...)
	}
	a.pos = pos
	a.fire = actions.Fire{
		Playbook: f.Playbook, Rule: f.Rule, RunID: f.RunID, FireID: f.ID,
		CustomerID: f.CustomerID, At: f.At, Key: f.Key(),
		ProfileFunc: a.fire.ProfileFunc,
	}
	af := &a.fire
	fx.BeginAt(af, delay, pos)
	for i, ra := range acts {
		af.Index, af.ResultUnread = i, i == len(acts)-1
		res, err := ra.Action.Do(ctx, af, fx)
		if err != nil {
			return fmt.Errorf("action %d (%s): %w", i+1, ra.Kind, err)
		}
		// The last action's result has no later action to read it.
		if res != nil && i < len(acts)-1 {
			if af.Results == nil {
				// Nil until an action has a result, as for a fire of its
				// own; then the map the fires before used, emptied.
				if a.results == nil {
					a.results = make(map[string]actions.Result, len(acts))
				}
				clear(a.results)
				af.Results = a.results
			}
			af.Results[ra.Kind] = res
		}
	}
	return nil
}

// keptFire is a fire a batch wrote and kept, with its customer's position
// in the run's pond.
type keptFire struct {
	pos  int
	fire *domain.Fire
}

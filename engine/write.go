package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/rules"
)

// write records the decisions of an evaluation in batched transactions. Each
// fire and its local actions share a savepoint: a failing action rolls back
// its own fire and nothing else.
func (e *Engine) write(ctx context.Context, pb *rules.Playbook, snap *Snapshot, run *Run, ev *evaluation) error {
	written := 0
	for start := 0; start < len(ev.decisions); start += e.cfg.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := ev.decisions[start:min(start+e.cfg.BatchSize, len(ev.decisions))]
		var muts []mutation
		var delta []*RuleCounts
		err := e.store.WriteFires(ctx, snap.Now, func(tx FireTx) error {
			muts, delta = muts[:0], newCounts(pb)
			for _, d := range chunk {
				m, err := e.writeOne(ctx, tx, pb, snap, run, d, delta[d.rule])
				if err != nil {
					return err
				}
				muts = append(muts, m...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write fires: %w", err)
		}
		for i, c := range delta {
			run.Rules[i].add(c)
		}
		applyMutations(snap, muts)
		written += len(chunk)
		if e.cfg.AfterBatch != nil {
			e.cfg.AfterBatch(pb.Name, written)
		}
	}
	return nil
}

// writeOne records one decision. It returns the in-memory changes to apply
// once the transaction commits.
func (e *Engine) writeOne(ctx context.Context, tx FireTx, pb *rules.Playbook, snap *Snapshot, run *Run, d decision, c *RuleCounts) ([]mutation, error) {
	r := pb.Rules[d.rule]
	p := &snap.Profiles[d.cust]
	f := &Fire{RunID: run.ID, Playbook: pb.Name, Rule: r.ID, CustomerID: p.ID, Seq: d.seq, Status: FireFired, At: snap.Now, Hash: pb.Hash}
	if d.holdout {
		f.Status = FireHoldout
	}
	fx := &recordingEffects{tx: tx, cust: d.cust}
	var actionErr error
	inserted, err := tx.Fire(f, func() error {
		if d.holdout {
			return nil
		}
		actionErr = e.doActions(ctx, r, f, p, fx)
		return actionErr
	})
	switch {
	case actionErr != nil && errors.Is(err, actionErr):
		c.fail(p.ID + ": " + actionErr.Error())
		return nil, nil
	case err != nil:
		return nil, err
	case !inserted:
		// Another run claimed this (rule, customer, seq) after we read the marks.
		if r.Once {
			c.suppress(ReasonOnce, 1)
		} else {
			c.suppress(ReasonCooldown, 1)
		}
		return nil, nil
	case !d.holdout:
		c.Fired++
	}
	return fx.muts, nil
}

func (e *Engine) doActions(ctx context.Context, r *rules.Rule, f *Fire, p *Profile, fx actions.Effects) error {
	af := &actions.Fire{
		Playbook: f.Playbook, Rule: f.Rule, RunID: f.RunID, FireID: f.ID,
		CustomerID: f.CustomerID, At: f.At, Key: f.Key(),
		Profile: p.Values(), Results: map[string]actions.Result{},
	}
	for i, ra := range r.Actions {
		af.Index = i
		res, err := ra.Action.Do(ctx, af, fx)
		if err != nil {
			return fmt.Errorf("action %d (%s): %w", i+1, ra.Kind, err)
		}
		af.Results[ra.Kind] = res
	}
	return nil
}

// mutation is a committed change to a customer that the in-memory snapshot
// must reflect, so later playbooks of the same invocation see it.
type mutation struct {
	cust   int
	tier   *string
	tags   *[]string
	coupon *IssuedCoupon
}

// recordingEffects passes effects to the transaction and remembers them.
type recordingEffects struct {
	tx   FireTx
	cust int
	muts []mutation
}

func (r *recordingEffects) IssueCoupon(c actions.Coupon) error {
	if err := r.tx.IssueCoupon(c); err != nil {
		return err
	}
	r.muts = append(r.muts, mutation{cust: r.cust, coupon: &IssuedCoupon{Code: c.Code, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}})
	return nil
}

func (r *recordingEffects) UpdateTags(customerID string, add, remove []string) ([]string, error) {
	tags, err := r.tx.UpdateTags(customerID, add, remove)
	if err != nil {
		return nil, err
	}
	r.muts = append(r.muts, mutation{cust: r.cust, tags: &tags})
	return tags, nil
}

func (r *recordingEffects) SetTier(customerID, tier string) error {
	if err := r.tx.SetTier(customerID, tier); err != nil {
		return err
	}
	r.muts = append(r.muts, mutation{cust: r.cust, tier: &tier})
	return nil
}

func applyMutations(snap *Snapshot, muts []mutation) {
	touched := map[int]bool{}
	for _, m := range muts {
		c := &snap.pond.Customers[m.cust]
		switch {
		case m.tier != nil:
			c.Tier = *m.tier
		case m.tags != nil:
			c.Tags = *m.tags
		case m.coupon != nil:
			snap.pond.AddCoupon(m.cust, *m.coupon)
		}
		touched[m.cust] = true
	}
	for i := range touched {
		snap.Refresh(i)
	}
}

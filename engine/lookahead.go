package engine

import (
	"context"
	"slices"
	"time"

	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// A run's playbooks take turns: each is evaluated after the one before it
// has written, so it sees that playbook's tiers, tags and coupons. Writing
// is SQLite's single writer on one core. While it goes on, the lookahead
// evaluates the next playbook on the other core, over the snapshot as it
// stands; once the writing is done, it evaluates again only the customers
// the writing changed, before and after their profiles are refreshed, and
// swaps their part of the result. The outcome is exactly that of
// evaluating afterwards (TestLookaheadEqualsEvaluatingAfterwards), at the
// cost of the changed customers only.

// lookahead is the early evaluation of the next playbook of a run.
type lookahead struct {
	pb      *rules.Playbook
	started time.Time
	done    chan struct{}
	marks   *evaluate.Marks
	ev      *evaluate.Evaluation
	err     error
}

// startLookahead evaluates pb on one goroutine. Until wait returns, the
// snapshot's profiles must not change.
func (e *Engine) startLookahead(ctx context.Context, pb *rules.Playbook, snap *profile.Snapshot) *lookahead {
	la := &lookahead{pb: pb, started: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(la.done)
		if la.marks, la.err = e.marks(ctx, pb, snap.Pond()); la.err != nil {
			return
		}
		la.ev = evaluate.EvaluateWith(pb, snap, la.marks, 1, false)
	}()
	return la
}

func (la *lookahead) wait() { <-la.done }

// settle waits for the lookahead and returns its evaluation as if it had
// started after the customers in changed (indexes, in any order) were
// refreshed; refresh refreshes them.
func (la *lookahead) settle(snap *profile.Snapshot, changed []int, refresh func([]int)) (*evaluate.Evaluation, error) {
	la.wait()
	changed = slices.Compact(slices.Sorted(slices.Values(changed)))
	if la.err != nil {
		refresh(changed)
		return nil, la.err
	}
	if len(changed) == 0 {
		return la.ev, nil
	}
	// When much changed, patching would cost about as much as evaluating
	// again, on all cores.
	if len(changed) > snap.Len()/8 {
		refresh(changed)
		return evaluate.Evaluate(la.pb, snap, la.marks), nil
	}
	before := evaluate.EvaluateSubset(la.pb, snap, la.marks, changed)
	refresh(changed)
	after := evaluate.EvaluateSubset(la.pb, snap, la.marks, changed)
	if before.Errors() > 0 || after.Errors() > 0 {
		// A rule's FirstError is the first in customer order, which
		// patching cannot tell: evaluate again.
		return evaluate.Evaluate(la.pb, snap, la.marks), nil
	}
	return evaluate.Patch(la.ev, before, after, changed), nil
}

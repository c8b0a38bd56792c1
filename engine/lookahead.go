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
// stands, and the writer joins in once it is done with its own; then it
// evaluates again only the customers the writing changed in what the
// playbook reads, before and after their profiles are refreshed, and
// swaps their part of the result. The outcome is exactly that of
// evaluating afterwards (TestLookaheadEqualsEvaluatingAfterwards), at the
// cost of those customers only.

// lookahead is the early evaluation of the next playbook of a run.
type lookahead struct {
	pb      *rules.Playbook
	started time.Time
	// ready closes once job is set (the marks are read); done once the
	// lookahead's own goroutine is through.
	ready, done chan struct{}
	marks       *evaluate.Marks
	job         *evaluate.Job
	err         error
}

// startLookahead evaluates pb on one goroutine; the writer joins in when
// it is done with its playbook (settle). Until settle returns, the
// snapshot's profiles must not change.
func (e *Engine) startLookahead(ctx context.Context, pb *rules.Playbook, snap *profile.Snapshot) *lookahead {
	la := &lookahead{pb: pb, started: time.Now(), ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(la.done)
		if la.marks, la.err = e.marks(ctx, pb, snap.Pond()); la.err != nil {
			return
		}
		la.job = evaluate.NewJob(nil, pb, snap, la.marks, false)
		close(la.ready)
		la.job.Work()
	}()
	return la
}

// wait waits for the lookahead's goroutine, helping with what is left of
// its evaluation.
func (la *lookahead) wait() {
	select {
	case <-la.ready:
		la.job.Work()
	case <-la.done:
	}
	<-la.done
}

// settle waits for the lookahead and returns its evaluation as if it had
// started after changes were made and their customers refreshed; refresh
// refreshes customers (indexes, sorted and each once).
//
// Only the customers with a change the playbook can see are evaluated
// again (profile.ChangeKind.VisibleTo): a coupon changes nothing for a
// playbook that never reads open_coupons or the coupon expiry, and its
// customer's answers before and after are the same. At a million
// customers the writer spent about 0.1 s of a run on such re-evaluations,
// with the other core idle. (A write from elsewhere during the run, an
// API call changing a customer's tier, reaches this playbook's decision
// only for a customer it evaluates again; every other customer is decided
// on the snapshot the run took, as those the run never changed always
// were.)
func (la *lookahead) settle(snap *profile.Snapshot, changes []profile.Touch, refresh func([]int)) (*evaluate.Evaluation, error) {
	la.wait()
	changed := changedCustomers(changes)
	if la.err != nil {
		refresh(changed)
		return nil, la.err
	}
	ev := la.job.Result()
	reads := evaluate.ReadsFunc(la.pb)
	var seen []int
	for _, c := range changes {
		if c.Kind.VisibleTo(reads) {
			seen = append(seen, int(c.Cust))
		}
	}
	seen = slices.Compact(slices.Sorted(slices.Values(seen)))
	if len(seen) == 0 {
		refresh(changed)
		return ev, nil
	}
	// When much changed, patching would cost about as much as evaluating
	// again, on all cores.
	if len(seen) > snap.Len()/8 {
		refresh(changed)
		return evaluate.Evaluate(la.pb, snap, la.marks), nil
	}
	before := evaluate.EvaluateSubset(la.pb, snap, la.marks, seen)
	refresh(changed)
	after := evaluate.EvaluateSubset(la.pb, snap, la.marks, seen)
	if before.Errors() > 0 || after.Errors() > 0 {
		// A rule's FirstError is the first in customer order, which
		// patching cannot tell: evaluate again.
		return evaluate.Evaluate(la.pb, snap, la.marks), nil
	}
	return evaluate.Patch(ev, before, after, seen), nil
}

package engine

import (
	"hash/fnv"
	"runtime"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/koihq/koi/rules"
)

// decision is what evaluation decided for one (customer, rule): fire it or
// record it as holdout, with the fire sequence number it will claim, the
// variant it takes and when its messages are due. It is kept small: a run
// over a million customers holds one per would-be fire.
type decision struct {
	cust int32
	seq  int32
	// deliverAt, when not 0, is when the fire's messages are due (unix
	// ms): later than the run, because of quiet hours or a deferred cap.
	deliverAt int64
	rule      int16
	// variant indexes the rule's variants; -1 when it has none.
	variant int16
	// deferred says why deliverAt is later than the run.
	deferred deferral
	holdout  bool
}

// deferral is why a decision's messages wait; a byte rather than the
// reason's string keeps a decision at 24 bytes.
type deferral uint8

const (
	notDeferred deferral = iota
	deferredQuietHours
	deferredCap
)

// reason returns the deferral's reason as runs count it.
func (d deferral) reason() string {
	switch d {
	case deferredQuietHours:
		return ReasonQuietHours
	case deferredCap:
		return ReasonCap
	}
	return ""
}

// evaluation is the pure, write-free outcome of evaluating a playbook.
type evaluation struct {
	audience  int
	counts    []*RuleCounts
	decisions []decision // in customer order, then rule order
	// limitBase, when set, is the audience the blast guard is a share of
	// instead of the one evaluated: the pond, for event-triggered runs,
	// which look at a few customers at a time.
	limitBase int
	// trace, when set, keeps every match that did not become a decision
	// in traced, so tools can say what happened to each customer.
	trace  bool
	traced []tracedMatch
}

// tracedMatch is a match that made no decision: suppressed before the
// holdout (cooldown, once, consent, cap) or failed (err).
type tracedMatch struct {
	cust   int32
	rule   int16
	reason string
	err    string
}

// note records a match that made no decision, when tracing.
func (ev *evaluation) note(cust int, rule int, reason, err string) {
	if ev.trace {
		ev.traced = append(ev.traced, tracedMatch{cust: int32(cust), rule: int16(rule), reason: reason, err: err})
	}
}

// fires counts the decisions that would act (not holdout).
func (ev *evaluation) fires() int {
	n := 0
	for _, d := range ev.decisions {
		if !d.holdout {
			n++
		}
	}
	return n
}

// InHoldout reports whether a customer is in a playbook's control group.
// It depends only on the playbook's name and the customer's id, so a
// customer stays in (or out of) the group across runs, restarts and edits.
func InHoldout(playbook, customerID string, bp int) bool {
	if bp <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(playbook))
	h.Write([]byte{0})
	h.Write([]byte(customerID))
	return int(h.Sum64()%10000) < bp
}

// evaluate runs a playbook's scheduled rules over a snapshot without
// writing, on all cores.
func evaluate(pb *rules.Playbook, snap *Snapshot, marks map[FireRef]FireMark) *evaluation {
	return evaluateWith(pb, snap, marks, runtime.GOMAXPROCS(0), false)
}

// evaluateWith is evaluate on at most workers goroutines, tracing every
// customer's matches when trace is set.
func evaluateWith(pb *rules.Playbook, snap *Snapshot, marks map[FireRef]FireMark, workers int, trace bool) *evaluation {
	n := len(snap.Profiles)
	if n < 1024 {
		workers = 1
	}
	chunk := (n + workers - 1) / max(workers, 1)
	parts := make([]*evaluation, 0, workers)
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		part := &evaluation{counts: newCounts(pb), trace: trace}
		parts = append(parts, part)
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			evaluateRange(pb, snap, marks, lo, hi, part)
		}()
	}
	wg.Wait()
	out := &evaluation{counts: newCounts(pb), trace: trace}
	for _, p := range parts {
		out.audience += p.audience
		out.decisions = append(out.decisions, p.decisions...)
		out.traced = append(out.traced, p.traced...)
		for i, c := range p.counts {
			out.counts[i].add(c)
		}
	}
	return out
}

func newCounts(pb *rules.Playbook) []*RuleCounts {
	cs := make([]*RuleCounts, len(pb.Rules))
	for i, r := range pb.Rules {
		cs[i] = &RuleCounts{Rule: r.ID, Suppressed: map[string]int{}}
	}
	return cs
}

func evaluateRange(pb *rules.Playbook, snap *Snapshot, marks map[FireRef]FireMark, lo, hi int, out *evaluation) {
	var m vm.VM
	for i := lo; i < hi; i++ {
		evaluateOne(pb, snap, marks, i, &m, out)
	}
}

// evaluateSubset evaluates the customers at indexes, which are sorted.
func evaluateSubset(pb *rules.Playbook, snap *Snapshot, marks map[FireRef]FireMark, indexes []int) *evaluation {
	out := &evaluation{counts: newCounts(pb)}
	var m vm.VM
	for _, i := range indexes {
		evaluateOne(pb, snap, marks, i, &m, out)
	}
	return out
}

// evaluateOne applies the audience and then the rules to customer i.
func evaluateOne(pb *rules.Playbook, snap *Snapshot, marks map[FireRef]FireMark, i int, m *vm.VM, out *evaluation) {
	if !snap.Present[i] {
		return
	}
	p := &snap.Profiles[i]
	if pb.Audience != nil {
		ok, err := pb.Audience.Eval(m, p)
		if err != nil || !ok {
			return
		}
	}
	out.audience++
	evaluateCustomer(pb, snap, marks, i, p, m, out, nil)
}

// evaluateCustomer applies the rules in order to one customer: the
// scheduled rules when events is nil, else the rules on those event types.
func evaluateCustomer(pb *rules.Playbook, snap *Snapshot, marks map[FireRef]FireMark, i int, p *Profile, m *vm.VM, out *evaluation, events map[string]bool) {
	holdout := InHoldout(pb.Name, p.ID, pb.HoldoutBP)
	start := len(out.decisions)
	for ri, r := range pb.Rules {
		if r.On != "" || events != nil {
			// Event-triggered rules run when their event arrives, and
			// only they do then.
			if !events[r.On] {
				continue
			}
		}
		c := out.counts[ri]
		ok, err := r.When.Eval(m, p)
		if err != nil {
			c.fail(p.ID + ": " + err.Error())
			out.note(i, ri, "", err.Error())
			continue
		}
		if !ok {
			continue
		}
		c.Matched++
		seq, reason := nextSeq(r, marks[FireRef{Rule: r.ID, CustomerID: p.ID}], snap.Now)
		variant := VariantOf(pb.Name, r, p.ID)
		if reason == "" {
			if _, no := withoutConsent(p.optOut, ruleChannels(r, variant)); no {
				reason = ReasonConsent
			}
		}
		if reason != "" {
			c.suppress(reason, 1)
			out.note(i, ri, reason, "")
		} else {
			out.decisions = append(out.decisions, decision{cust: int32(i), rule: int16(ri), seq: int32(seq), variant: int16(variant), holdout: holdout})
		}
		// A stop rule claims the customer on match, even a suppressed one:
		// later rules must not treat someone this rule is cooling down or
		// holding out, or the control group would be contaminated.
		if r.Stop {
			break
		}
	}
	if len(out.decisions) == start {
		return
	}
	ds := applyPolicy(pb, snap, p, out.decisions[start:], out)
	out.decisions = out.decisions[:start+len(ds)]
	for _, d := range ds {
		c := out.counts[d.rule]
		switch {
		case d.holdout:
			c.suppress(ReasonHoldout, 1)
		default:
			c.Fired++
			if d.deferred != notDeferred {
				c.deferral(d.deferred.reason(), 1)
			}
		}
	}
}

// nextSeq decides whether a rule may fire again and with which sequence.
func nextSeq(r *rules.Rule, last FireMark, now time.Time) (seq int, reason string) {
	if last.Seq == 0 {
		return 1, ""
	}
	if r.Once {
		return 0, ReasonOnce
	}
	if now.Before(last.At.Add(r.Cooldown)) {
		return 0, ReasonCooldown
	}
	return last.Seq + 1, ""
}

package engine

import (
	"hash/fnv"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/koihq/koi/engine/profile"
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
	// marks are the fire history the evaluation decided by; writing takes
	// each grouped fire's group number from them.
	marks *Marks
}

// tracedMatch is a match that made no decision: suppressed before the
// holdout (cooldown, once, consent, cap) or failed (err).
type tracedMatch struct {
	cust   int32
	rule   int16
	reason string
	err    string
	// by is the rule of the benefit group whose fire suppressed the match
	// (playbook/rule), when it was not the rule's own.
	by string
}

// note records a match that made no decision, when tracing.
func (ev *evaluation) note(cust int, rule int, reason, err, by string) {
	if ev.trace {
		ev.traced = append(ev.traced, tracedMatch{cust: int32(cust), rule: int16(rule), reason: reason, err: err, by: by})
	}
}

// groupSeq is the number within its benefit group of the fire decision d
// makes; 0 when its rule has none.
func (ev *evaluation) groupSeq(pb *rules.Playbook, snap *profile.Snapshot, d decision) int {
	g := pb.Rules[d.rule].Group
	if g == "" {
		return 0
	}
	return ev.marks.group(g, snap.Profile(int(d.cust)).ID).Seq + 1
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

// claimGroups records in claims the benefit-group fires (and holdouts) of
// the evaluation, for the playbooks later in the same run.
func (ev *evaluation) claimGroups(pb *rules.Playbook, snap *profile.Snapshot, claims *Marks) {
	if len(pb.Groups()) == 0 {
		return
	}
	by := make([]string, len(pb.Rules))
	for i, r := range pb.Rules {
		by[i] = pb.Name + "/" + r.ID
	}
	for _, d := range ev.decisions {
		if g := pb.Rules[d.rule].Group; g != "" {
			claims.NoteGroupFire(g, snap.Profile(int(d.cust)).ID, snap.Now, ev.groupSeq(pb, snap, d), by[d.rule])
		}
	}
}

// shareGroup reports whether two playbooks have a rule in one benefit group.
func shareGroup(a, b *rules.Playbook) bool {
	for _, g := range a.Groups() {
		if slices.Contains(b.Groups(), g) {
			return true
		}
	}
	return false
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
func evaluate(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks) *evaluation {
	return evaluateWith(pb, snap, marks, runtime.GOMAXPROCS(0), false)
}

// evaluateWith is evaluate on at most workers goroutines, tracing every
// customer's matches when trace is set.
func evaluateWith(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, workers int, trace bool) *evaluation {
	return evaluateUntil(nil, pb, snap, marks, workers, trace)
}

// evaluateUntil is evaluateWith that gives up when done closes, leaving
// the evaluation partial: a preview's time budget (a run evaluates to the
// end; nil never closes).
func evaluateUntil(done <-chan struct{}, pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, workers int, trace bool) *evaluation {
	n := len(snap.Profiles)
	if n < 1024 {
		workers = 1
	}
	chunk := (n + workers - 1) / max(workers, 1)
	parts := make([]*evaluation, 0, workers)
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		part := &evaluation{counts: newCounts(pb), trace: trace, marks: marks}
		parts = append(parts, part)
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			evaluateRange(done, pb, snap, marks, lo, hi, part)
		}()
	}
	wg.Wait()
	out := &evaluation{counts: newCounts(pb), trace: trace, marks: marks}
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

func evaluateRange(done <-chan struct{}, pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, lo, hi int, out *evaluation) {
	var m vm.VM
	for i := lo; i < hi; i++ {
		if (i-lo)&1023 == 0 && done != nil {
			select {
			case <-done:
				return
			default:
			}
		}
		evaluateOne(pb, snap, marks, i, &m, out)
	}
}

// evaluateSubset evaluates the customers at indexes, which are sorted.
func evaluateSubset(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, indexes []int) *evaluation {
	out := &evaluation{counts: newCounts(pb), marks: marks}
	var m vm.VM
	for _, i := range indexes {
		evaluateOne(pb, snap, marks, i, &m, out)
	}
	return out
}

// evaluateOne applies the audience and then the rules to customer i.
func evaluateOne(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, i int, m *vm.VM, out *evaluation) {
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
func evaluateCustomer(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, i int, p *profile.Profile, m *vm.VM, out *evaluation, events map[string]bool) {
	holdout := InHoldout(pb.Name, p.ID, pb.HoldoutBP)
	start := len(out.decisions)
	// A match of a benefit group that an earlier rule of this evaluation
	// already matched waits on standby: it fires only if the contact
	// policy caps that earlier one, so the customer still gets one benefit
	// of the group. Playbooks have a handful of grouped rules at most.
	var standbyBuf [4]decision
	standby := standbyBuf[:0]
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
			out.note(i, ri, "", err.Error(), "")
			continue
		}
		if !ok {
			continue
		}
		c.Matched++
		group := marks.group(r.Group, p.ID)
		seq, reason, byGroup := nextSeq(r, marks.rule(r.ID, p.ID), group, snap.Now)
		variant := VariantOf(pb.Name, r, p.ID)
		if reason == "" {
			if _, no := withoutConsent(profile.OptOutOf(p), ruleChannels(r, variant)); no {
				reason = ReasonConsent
			}
		}
		d := decision{cust: int32(i), rule: int16(ri), seq: int32(seq), variant: int16(variant), holdout: holdout}
		switch {
		case reason != "":
			c.suppress(reason, 1)
			by := ""
			if byGroup {
				by = group.By
				c.byGroup(by, 1)
			}
			out.note(i, ri, reason, "", by)
		case r.Group != "" && groupHolder(pb, out.decisions[start:], r.Group) >= 0:
			standby = append(standby, d)
		default:
			out.decisions = append(out.decisions, d)
		}
		// A stop rule claims the customer on match, even a suppressed one:
		// later rules must not treat someone this rule is cooling down or
		// holding out, or the control group would be contaminated.
		if r.Stop {
			break
		}
	}
	if len(out.decisions) == start && len(standby) == 0 {
		return
	}
	ds, planned := applyPolicy(pb, snap, p, out.decisions[start:], out, nil)
	if len(standby) > 0 {
		ds = promoteStandby(pb, snap, p, ds, standby, planned, out)
	}
	// ds is out.decisions[start:] compacted in place, or, after a
	// promotion, a slice of its own.
	out.decisions = append(out.decisions[:start], ds...)
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

// groupHolder returns the rule index of the decision in ds that holds a
// benefit group, or -1.
func groupHolder(pb *rules.Playbook, ds []decision, group string) int {
	for _, d := range ds {
		if pb.Rules[d.rule].Group == group {
			return int(d.rule)
		}
	}
	return -1
}

// promoteStandby settles the standby matches of one customer's evaluation
// after the contact policy settled its decisions ds: a standby whose group
// is no longer held (the cap took its holder) goes through the policy in
// its turn, and fires if the policy lets it; the others are suppressed,
// as the group's cooldown or once, by the rule that holds the group. It
// returns the decisions in rule order.
func promoteStandby(pb *rules.Playbook, snap *profile.Snapshot, p *profile.Profile, ds, standby []decision, planned []profile.ContactMark, out *evaluation) []decision {
	final := slices.Clone(ds)
	for _, sb := range standby {
		r := pb.Rules[sb.rule]
		if holder := groupHolder(pb, final, r.Group); holder >= 0 {
			reason := ReasonCooldown
			if r.Once {
				reason = ReasonOnce
			}
			by := pb.Name + "/" + pb.Rules[holder].ID
			c := out.counts[sb.rule]
			c.suppress(reason, 1)
			c.byGroup(by, 1)
			out.note(int(sb.cust), int(sb.rule), reason, "", by)
			continue
		}
		var got []decision
		got, planned = applyPolicy(pb, snap, p, []decision{sb}, out, planned)
		final = append(final, got...)
	}
	slices.SortFunc(final, func(a, b decision) int { return int(a.rule) - int(b.rule) })
	return final
}

// nextSeq decides whether a rule may fire again, and with which sequence
// number, from its own latest fire and its benefit group's latest (the
// zero mark when it has none). A group's fire counts as if the rule had
// fired then, measured by the rule's own cooldown; byGroup says the
// group's fire, not the rule's own, is what suppresses it.
func nextSeq(r *rules.Rule, own, group FireMark, now time.Time) (seq int, reason string, byGroup bool) {
	if reason := suppressedSince(r, own, now); reason != "" {
		return 0, reason, false
	}
	if reason := suppressedSince(r, group, now); reason != "" {
		return 0, reason, true
	}
	return own.Seq + 1, "", false
}

// suppressedSince is why r may not fire at now given a fire marked last:
// once, cooldown, or "" when it may.
func suppressedSince(r *rules.Rule, last FireMark, now time.Time) string {
	switch {
	case last.At.IsZero():
		return ""
	case r.Once:
		return ReasonOnce
	case now.Before(last.At.Add(r.Cooldown)):
		return ReasonCooldown
	}
	return ""
}

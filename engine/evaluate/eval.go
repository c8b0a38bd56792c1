package evaluate

import (
	"hash/fnv"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Decision is what evaluation decided for one (customer, rule): fire it or
// record it as holdout, with the fire sequence number it will claim, the
// variant it takes and when its messages are due. It is kept small: a run
// over a million customers holds one per would-be fire.
type Decision struct {
	Cust int32
	Seq  int32
	// DeliverAt, when not 0, is when the fire's messages are due (unix
	// ms): later than the run, because of quiet hours or a deferred cap.
	DeliverAt int64
	Rule      int16
	// Variant indexes the rule's variants; -1 when it has none.
	Variant int16
	// GroupSeq is the fire's number in its rule's benefit group (0 for
	// none), from the marks as the evaluation read them: two runs racing
	// for a customer's group write the same number, which the store
	// refuses the second time.
	GroupSeq int32
	// Deferred says why deliverAt is later than the run.
	Deferred policy.Deferral
	Holdout  bool
}

// Evaluation is the pure, write-free outcome of evaluating a playbook.
type Evaluation struct {
	Audience  int
	Counts    []*RuleCounts
	Decisions []Decision // in customer order, then rule order
	// LimitBase, when set, is the audience the blast guard is a share of
	// instead of the one evaluated: the pond, for event-triggered runs,
	// which look at a few customers at a time.
	LimitBase int
	// Trace, when set, keeps every match that did not become a decision
	// in traced, so tools can say what happened to each customer.
	Trace  bool
	Traced []TracedMatch
	// Marks are the fire history the evaluation decided by; writing takes
	// each grouped fire's group number from them.
	Marks *Marks
}

// TracedMatch is a match that made no decision: suppressed before the
// holdout (cooldown, once, consent, cap) or failed (err).
type TracedMatch struct {
	Cust   int32
	Rule   int16
	Reason string
	Err    string
	// By is the rule of the benefit group whose fire suppressed the match
	// (playbook/rule), when it was not the rule's own.
	By string
}

// Note records a match that made no decision, when tracing.
func (ev *Evaluation) Note(cust int, rule int, reason, err, by string) {
	if ev.Trace {
		ev.Traced = append(ev.Traced, TracedMatch{Cust: int32(cust), Rule: int16(rule), Reason: reason, Err: err, By: by})
	}
}

// Fires counts the decisions that would act (not holdout).
func (ev *Evaluation) Fires() int {
	n := 0
	for _, d := range ev.Decisions {
		if !d.Holdout {
			n++
		}
	}
	return n
}

// ClaimGroups records in claims the benefit-group fires (and holdouts) of
// the evaluation, for the playbooks later in the same run.
func (ev *Evaluation) ClaimGroups(pb *rules.Playbook, snap *profile.Snapshot, claims *Marks) {
	if len(pb.Groups()) == 0 {
		return
	}
	by := make([]string, len(pb.Rules))
	for i, r := range pb.Rules {
		by[i] = pb.Name + "/" + r.ID
	}
	for _, d := range ev.Decisions {
		if g := pb.Rules[d.Rule].Group; g != "" {
			claims.NoteGroupFire(g, snap.ID(int(d.Cust)), snap.Now, int(d.GroupSeq), by[d.Rule])
		}
	}
}

// ShareGroup reports whether two playbooks have a rule in one benefit group.
func ShareGroup(a, b *rules.Playbook) bool {
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

// Evaluate runs a playbook's scheduled rules over a snapshot without
// writing, on all cores.
func Evaluate(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks) *Evaluation {
	return EvaluateWith(pb, snap, marks, runtime.GOMAXPROCS(0), false)
}

// EvaluateWith is evaluate on at most workers goroutines, tracing every
// customer's matches when trace is set.
func EvaluateWith(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, workers int, trace bool) *Evaluation {
	return EvaluateUntil(nil, pb, snap, marks, workers, trace)
}

// EvaluateUntil is evaluateWith that gives up when done closes, leaving
// the evaluation partial: a preview's time budget (a run evaluates to the
// end; nil never closes).
func EvaluateUntil(done <-chan struct{}, pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, workers int, trace bool) *Evaluation {
	job := NewJob(done, pb, snap, marks, trace)
	var wg sync.WaitGroup
	for range max(workers, 1) - 1 {
		wg.Go(job.Work)
	}
	job.Work()
	wg.Wait()
	return job.Result()
}

// NewCounts returns zero counts for each rule of pb.
func NewCounts(pb *rules.Playbook) []*RuleCounts {
	cs := make([]*RuleCounts, len(pb.Rules))
	for i, r := range pb.Rules {
		cs[i] = &RuleCounts{Rule: r.ID, Suppressed: map[string]int{}}
	}
	return cs
}

func evaluateRange(done <-chan struct{}, pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, lo, hi int, out *Evaluation) {
	var m rules.Evaluator
	buf := profile.ProfileBuf{WithoutAttrs: !ReadsAttrs(pb)}
	sc := newRuleScratch(pb)
	for i := lo; i < hi; i++ {
		if (i-lo)&1023 == 0 && done != nil {
			select {
			case <-done:
				return
			default:
			}
		}
		evaluateOne(pb, snap, marks, i, &m, &buf, sc, out)
	}
}

// EvaluateSubset evaluates the customers at indexes, which are sorted.
func EvaluateSubset(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, indexes []int) *Evaluation {
	out := &Evaluation{Counts: NewCounts(pb), Marks: marks}
	var m rules.Evaluator
	buf := profile.ProfileBuf{WithoutAttrs: !ReadsAttrs(pb)}
	sc := newRuleScratch(pb)
	for _, i := range indexes {
		evaluateOne(pb, snap, marks, i, &m, &buf, sc, out)
	}
	return out
}

// ruleScratch is what evaluating the scheduled rules of a playbook for
// customer after customer reuses: their conditions (nil for the rules on
// events, which do not run then), and the results of the last customer's.
type ruleScratch struct {
	whens []*rules.Condition
	ok    []bool
	errs  []error
}

func newRuleScratch(pb *rules.Playbook) *ruleScratch {
	sc := &ruleScratch{whens: make([]*rules.Condition, len(pb.Rules)), ok: make([]bool, len(pb.Rules)), errs: make([]error, len(pb.Rules))}
	for i, r := range pb.Rules {
		if r.On == "" {
			sc.whens[i] = r.When
		}
	}
	return sc
}

// conditions returns pb's conditions: its audience and its rules' whens.
func conditions(pb *rules.Playbook) []*rules.Condition {
	var conds []*rules.Condition
	if pb.Audience != nil {
		conds = append(conds, pb.Audience)
	}
	for _, r := range pb.Rules {
		if r.When != nil {
			conds = append(conds, r.When)
		}
	}
	return conds
}

// ReadsFunc returns whether any condition of pb (its audience, a rule's
// when) may read an expression name (rules.Condition.Reads).
func ReadsFunc(pb *rules.Playbook) func(name string) bool {
	conds := conditions(pb)
	// A settle asks for every change it patches, of a few names: answer
	// each name once.
	known := map[string]bool{}
	return func(name string) bool {
		v, ok := known[name]
		if !ok {
			v = slices.ContainsFunc(conds, func(c *rules.Condition) bool { return c.Reads(name) })
			known[name] = v
		}
		return v
	}
}

// ReadsAttrs reports whether any condition of pb (its audience, a
// rule's when) may read the customer's attrs as a map, not only key by
// key (rules.Condition.NeedsMap).
func ReadsAttrs(pb *rules.Playbook) bool {
	return slices.ContainsFunc(conditions(pb), func(c *rules.Condition) bool { return c.NeedsMap("attrs") })
}

// evaluateOne applies the audience and then the rules to customer i.
func evaluateOne(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, i int, m *rules.Evaluator, buf *profile.ProfileBuf, sc *ruleScratch, out *Evaluation) {
	if !snap.Present[i] {
		return
	}
	p := snap.Fill(i, buf)
	if pb.Audience != nil {
		ok, err := pb.Audience.Eval(m, p)
		if err != nil || !ok {
			return
		}
	}
	out.Audience++
	// Every scheduled rule's condition at once, under one guard; the
	// rules below take the results in order. (Those after a stop rule
	// that matched are evaluated for nothing: a match is rare.)
	rules.EvalEach(m, sc.whens, p, sc.ok, sc.errs)
	evaluateCustomer(pb, snap, marks, i, p, m, out, nil, sc)
}

// EvaluateCustomer applies the rules in order to one customer: the
// scheduled rules when events is nil, else the rules on those event types.
func EvaluateCustomer(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, i int, p *profile.Profile, m *rules.Evaluator, out *Evaluation, events map[string]bool) {
	evaluateCustomer(pb, snap, marks, i, p, m, out, events, nil)
}

// evaluateCustomer is EvaluateCustomer, taking the rules' results from
// sc when it is set (the scheduled rules, evaluated by the caller).
func evaluateCustomer(pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, i int, p *profile.Profile, m *rules.Evaluator, out *Evaluation, events map[string]bool, sc *ruleScratch) {
	// Whether the customer is held out, hashed on their first match: most
	// customers match no rule, and a playbook with a holdout hashed every
	// one of its audience.
	holdout, hashed := false, false
	start := len(out.Decisions)
	// A match of a benefit group that an earlier rule of this evaluation
	// already matched waits on standby: it fires only if the contact
	// policy caps that earlier one, so the customer still gets one benefit
	// of the group. Playbooks have a handful of grouped rules at most.
	var standbyBuf [4]Decision
	standby := standbyBuf[:0]
	for ri, r := range pb.Rules {
		if r.On != "" || events != nil {
			// Event-triggered rules run when their event arrives, and
			// only they do then.
			if !events[r.On] {
				continue
			}
		}
		c := out.Counts[ri]
		var ok bool
		var err error
		if sc != nil {
			ok, err = sc.ok[ri], sc.errs[ri]
		} else {
			ok, err = r.When.Eval(m, p)
		}
		if err != nil {
			c.Fail(p.ID + ": " + err.Error())
			out.Note(i, ri, "", err.Error(), "")
			continue
		}
		if !ok {
			continue
		}
		c.Matched++
		group := marks.Group(r.Group, i, p.ID)
		seq, reason, byGroup := NextSeq(r, marks.Rule(r.ID, i, p.ID), group, snap.Now)
		variant := VariantOf(pb.Name, r, p.ID)
		if reason == "" {
			if _, no := policy.WithoutConsent(profile.OptOutOf(p), RuleChannels(r, variant)); no {
				reason = policy.ReasonConsent
			}
		}
		if !hashed {
			holdout, hashed = InHoldout(pb.Name, p.ID, pb.HoldoutBP), true
		}
		d := Decision{Cust: int32(i), Rule: int16(ri), Seq: int32(seq), Variant: int16(variant), Holdout: holdout}
		if r.Group != "" {
			d.GroupSeq = int32(group.Seq + 1)
		}
		switch {
		case reason != "":
			c.Suppress(reason, 1)
			by := ""
			if byGroup {
				by = group.By
				c.CountByGroup(by, 1)
			}
			out.Note(i, ri, reason, "", by)
		case r.Group != "" && groupHolder(pb, out.Decisions[start:], r.Group) >= 0:
			standby = append(standby, d)
		default:
			out.Decisions = append(out.Decisions, d)
		}
		// A stop rule claims the customer on match, even a suppressed one:
		// later rules must not treat someone this rule is cooling down or
		// holding out, or the control group would be contaminated.
		if r.Stop {
			break
		}
	}
	if len(out.Decisions) == start && len(standby) == 0 {
		return
	}
	ds, planned := applyPolicy(pb, snap, p, out.Decisions[start:], out, nil)
	if len(standby) > 0 {
		ds = promoteStandby(pb, snap, p, ds, standby, planned, out)
	}
	// ds is out.decisions[start:] compacted in place, or, after a
	// promotion, a slice of its own.
	out.Decisions = append(out.Decisions[:start], ds...)
	for _, d := range ds {
		c := out.Counts[d.Rule]
		switch {
		case d.Holdout:
			c.Suppress(ReasonHoldout, 1)
		default:
			c.Fired++
			if d.Deferred != policy.NotDeferred {
				c.Defer(d.Deferred.Reason(), 1)
			}
		}
	}
}

// groupHolder returns the rule index of the decision in ds that holds a
// benefit group, or -1.
func groupHolder(pb *rules.Playbook, ds []Decision, group string) int {
	for _, d := range ds {
		if pb.Rules[d.Rule].Group == group {
			return int(d.Rule)
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
func promoteStandby(pb *rules.Playbook, snap *profile.Snapshot, p *profile.Profile, ds, standby []Decision, planned []profile.ContactMark, out *Evaluation) []Decision {
	final := slices.Clone(ds)
	for _, sb := range standby {
		r := pb.Rules[sb.Rule]
		if holder := groupHolder(pb, final, r.Group); holder >= 0 {
			reason := ReasonCooldown
			if r.Once {
				reason = ReasonOnce
			}
			by := pb.Name + "/" + pb.Rules[holder].ID
			c := out.Counts[sb.Rule]
			c.Suppress(reason, 1)
			c.CountByGroup(by, 1)
			out.Note(int(sb.Cust), int(sb.Rule), reason, "", by)
			continue
		}
		var got []Decision
		got, planned = applyPolicy(pb, snap, p, []Decision{sb}, out, planned)
		final = append(final, got...)
	}
	slices.SortFunc(final, func(a, b Decision) int { return int(a.Rule) - int(b.Rule) })
	return final
}

// NextSeq decides whether a rule may fire again, and with which sequence
// number, from its own latest fire and its benefit group's latest (the
// zero mark when it has none). A group's fire counts as if the rule had
// fired then, measured by the rule's own cooldown; byGroup says the
// group's fire, not the rule's own, is what suppresses it.
func NextSeq(r *rules.Rule, own, group FireMark, now time.Time) (seq int, reason string, byGroup bool) {
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

package evaluate

import (
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Hold lists an evaluation's decisions for keeping with a held run.
func Hold(pb *rules.Playbook, snap *profile.Snapshot, ev *Evaluation) []domain.HeldFire {
	out := make([]domain.HeldFire, len(ev.Decisions))
	for k, d := range ev.Decisions {
		r := pb.Rules[d.Rule]
		h := domain.HeldFire{Rule: r.ID, CustomerID: snap.ID(int(d.Cust)), Seq: int(d.Seq), GroupSeq: int(d.GroupSeq), Holdout: d.Holdout}
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

// Release turns a held run's fires back into decisions (its counts, the run's,
// take the suppressions), leaving out customers deleted since; counted as
// consent, those who opted out of a channel the fire messages on; and
// counted as once or cooldown, the fires another run wrote meanwhile,
// by the fire history now (marks): a run held for days may have been
// overtaken by fires the store's unique keys no longer compare it with.
func Release(pb *rules.Playbook, snap *profile.Snapshot, held []domain.HeldFire, counts []*RuleCounts, marks *Marks) *Evaluation {
	// The group numbers the run computed stand in for the marks it read:
	// writing takes a grouped fire's number from its group's mark.
	ev := &Evaluation{Counts: NewCounts(pb), Marks: &Marks{}}
	ruleIdx := map[string]int{}
	for i, r := range pb.Rules {
		ruleIdx[r.ID] = i
	}
	byRule := map[string]*RuleCounts{}
	for _, c := range counts {
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
			variant = VariantOf(pb.Name, r, h.CustomerID) // a holdout's, for its channels
		}
		if _, no := policy.WithoutConsent(profile.OptOutOf(snap.Profile(i)), RuleChannels(r, variant)); no {
			if c := byRule[h.Rule]; c != nil {
				c.Suppress(policy.ReasonConsent, 1)
			}
			continue
		}
		if overtaken(marks, r, i, h) {
			if c := byRule[h.Rule]; c != nil {
				c.Suppress(CollisionReason(r), 1)
			}
			continue
		}
		if r.Group != "" {
			ev.Marks.NoteGroupFire(r.Group, h.CustomerID, time.Time{}, h.GroupSeq-1, "")
		}
		d := Decision{Cust: int32(i), Rule: int16(ri), Seq: int32(h.Seq), Variant: int16(variant), Holdout: h.Holdout, GroupSeq: int32(h.GroupSeq)}
		if h.DeliverAt != nil {
			d.DeliverAt = h.DeliverAt.UnixMilli()
		}
		ev.Decisions = append(ev.Decisions, d)
	}
	return ev
}

// overtaken says a fire of the held run was written by another run since:
// the rule's fire number h.Seq, or its benefit group's h.GroupSeq, is
// taken already.
func overtaken(marks *Marks, r *rules.Rule, pos int, h domain.HeldFire) bool {
	if marks.Rule(r.ID, pos, h.CustomerID).Seq >= h.Seq {
		return true
	}
	return r.Group != "" && h.GroupSeq > 0 && marks.Group(r.Group, pos, h.CustomerID).Seq >= h.GroupSeq
}

// CollisionReason is the suppression a fire counts as when another run
// wrote it first: once, or cooldown.
func CollisionReason(r *rules.Rule) string {
	if r.Once {
		return ReasonOnce
	}
	return ReasonCooldown
}

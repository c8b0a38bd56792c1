package evaluate

import (
	"slices"
	"sort"

	"github.com/koihq/koi/engine/policy"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// applyPolicy settles the contact policy for one customer's decisions of
// one playbook evaluation, ds, which are in rule order: those that message
// get their delivery time (quiet hours), and when the caps cannot take
// them all, higher priority goes first; the rest are capped, or deferred
// when their rule says defer_on_cap. Holdout decisions go through the same
// steps, as if they were to send, so that the control group is chosen
// from the same customers as the treated. It returns ds without the
// capped decisions, still in rule order. planned are messages already
// planned for the customer in this evaluation, which the caps count; it
// returns them with those of ds added.
func applyPolicy(pb *rules.Playbook, snap *profile.Snapshot, p *profile.Profile, ds []Decision, out *Evaluation, planned []profile.ContactMark) ([]Decision, []profile.ContactMark) {
	pol := pb.Policy
	if pol.Empty() {
		return ds, planned
	}
	var msgs []int // indexes into ds of decisions that message
	for k := range ds {
		if len(RuleChannels(pb.Rules[ds[k].Rule], int(ds[k].Variant))) > 0 {
			msgs = append(msgs, k)
		}
	}
	if len(msgs) == 0 {
		return ds, planned
	}
	sort.SliceStable(msgs, func(a, b int) bool {
		return pb.Rules[ds[msgs[a]].Rule].Priority > pb.Rules[ds[msgs[b]].Rule].Priority
	})
	loc := policy.CustomerLocation(p.Attr("timezone"), snap.Config().Location)
	now := snap.Now.UnixMilli()
	due := pol.NextAllowed(snap.Now, loc).UnixMilli()
	history := profile.ContactsOf(p)
	capped := make([]bool, len(ds))
	for _, k := range msgs {
		d := &ds[k]
		r := pb.Rules[d.Rule]
		chans := RuleChannels(r, int(d.Variant))
		at := due
		contacts := [][]profile.ContactMark{history, planned}
		if !policy.CapsAllow(pol.Caps, contacts, chans, at) {
			if !r.DeferOnCap {
				capped[k] = true
				out.Counts[d.Rule].Suppress(policy.ReasonCap, 1)
				out.Note(int(d.Cust), int(d.Rule), policy.ReasonCap, "", "")
				continue
			}
			at = policy.CapSlot(pol, contacts, chans, at, loc)
			d.Deferred = policy.DeferredCap
		} else if at > now {
			d.Deferred = policy.DeferredQuietHours
		}
		if !policy.LimitsAllow(pol.Limits, contacts, chans, at) {
			capped[k] = true
			d.Deferred = policy.NotDeferred
			out.Counts[d.Rule].Suppress(policy.ReasonChannelLimit, 1)
			out.Note(int(d.Cust), int(d.Rule), policy.ReasonChannelLimit, "", "")
			continue
		}
		if at > now {
			d.DeliverAt = at
		}
		for _, ch := range chans {
			planned = append(planned, profile.ContactMark{At: at, Channel: ch})
		}
	}
	kept := ds[:0]
	for k, d := range ds {
		if !capped[k] {
			kept = append(kept, d)
		}
	}
	return kept, planned
}

// RuleChannels returns the channels a rule's fire messages on, in a
// variant (-1 for none).
func RuleChannels(r *rules.Rule, variant int) []string {
	if variant < 0 || len(r.Variants) == 0 {
		return r.Channels
	}
	v := r.Variants[variant].Channels
	if len(r.Channels) == 0 {
		return v
	}
	return append(slices.Clip(r.Channels), v...)
}

// SettleStep settles consent and the contact policy for one step of a
// journey, d (its Rule the step's index in steps, whose Policy is the
// journey playbook's), as a run settles them for a rule's match: a step
// messaging a channel the customer opted out of, or over a cap, is
// dropped (false, with the reason, also counted in counts); one in quiet
// hours or deferred by its cap gets its delivery time.
func SettleStep(steps *rules.Playbook, snap *profile.Snapshot, p *profile.Profile, d Decision, counts []*RuleCounts) (Decision, string, bool) {
	r := steps.Rules[d.Rule]
	if _, no := policy.WithoutConsent(profile.OptOutOf(p), RuleChannels(r, int(d.Variant))); no {
		counts[d.Rule].Suppress(policy.ReasonConsent, 1)
		return d, policy.ReasonConsent, false
	}
	ev := &Evaluation{Counts: counts, Trace: true}
	ds, _ := applyPolicy(steps, snap, p, []Decision{d}, ev, nil)
	if len(ds) == 0 {
		reason := ""
		if len(ev.Traced) > 0 {
			reason = ev.Traced[0].Reason
		}
		return d, reason, false
	}
	if ds[0].Deferred != policy.NotDeferred && !ds[0].Holdout {
		counts[d.Rule].Defer(ds[0].Deferred.Reason(), 1)
	}
	return ds[0], "", true
}

package engine

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Suppression and deferral reasons of the contact policy (DESIGN §4).
const (
	// ReasonCap: the frequency cap left no room for the rule's messages.
	ReasonCap = "cap"
	// ReasonConsent: the customer opted out of a channel the rule sends on.
	ReasonConsent = "consent"
	// ReasonChannelLimit: the channel's provider lets the customer receive
	// no more messages in the period (WeCom: as many mass messages a month
	// as the month has days); koi does not hand it a message it would drop.
	ReasonChannelLimit = "channel_limit"
	// ReasonQuietHours: the messages wait for the end of quiet hours (a
	// deferral: the fire happens, its messages go later).
	ReasonQuietHours = "quiet_hours"
)

// withoutConsent returns the first of channels the customer opted out of.
func withoutConsent(optOut []string, channels []string) (string, bool) {
	if len(optOut) == 0 {
		return "", false
	}
	for _, ch := range channels {
		if actions.OptedOut(optOut, ch) {
			return ch, true
		}
	}
	return "", false
}

// capsAllow reports whether messages on channels may be due at t, given
// the customer's contacts (past and already planned). A cap counts the
// contacts within one period either side of t: for contacts in the past
// that is the rolling window ending at t, and a message planned for later
// (a deferral) counts against the windows it will fall in too.
func capsAllow(caps []rules.Cap, contacts [][]profile.ContactMark, channels []string, t int64) bool {
	for _, c := range caps {
		need := 0
		for _, ch := range channels {
			if c.Channel == "" || c.Channel == ch {
				need++
			}
		}
		if need == 0 {
			continue
		}
		per := c.Per.Milliseconds()
		n := 0
		for _, cs := range contacts {
			for _, m := range cs {
				if m.At > t-per && m.At < t+per && (c.Channel == "" || c.Channel == m.Channel) {
					n++
				}
			}
		}
		if n+need > c.Messages {
			return false
		}
	}
	return true
}

// limitsAllow reports whether the channels' own limits let the customer
// receive messages on channels at t, counting their contacts (past and
// planned) on each limited channel in the limit's period around t.
func limitsAllow(limits map[string]actions.CustomerLimiter, contacts [][]profile.ContactMark, channels []string, t int64) bool {
	if len(limits) == 0 {
		return true
	}
	for i, ch := range channels {
		l := limits[ch]
		if l == nil || slices.Contains(channels[:i], ch) {
			continue
		}
		need := 0
		for _, c := range channels {
			if c == ch {
				need++
			}
		}
		start, end, n := l.CustomerLimit(time.UnixMilli(t))
		from, to := start.UnixMilli(), end.UnixMilli()
		have := 0
		for _, cs := range contacts {
			for _, m := range cs {
				if m.Channel == ch && m.At >= from && m.At < to {
					have++
				}
			}
		}
		if have+need > n {
			return false
		}
	}
	return true
}

// capSlot returns the first moment at or after from when the caps allow
// the messages and quiet hours do not hold them, trying the moments when
// an earlier contact leaves a cap's period.
func capSlot(pol rules.Policy, contacts [][]profile.ContactMark, channels []string, from int64, loc *time.Location) int64 {
	cands := []int64{from}
	for _, cs := range contacts {
		for _, m := range cs {
			for _, c := range pol.Caps {
				if t := m.At + c.Per.Milliseconds(); t > from {
					cands = append(cands, t)
				}
			}
		}
	}
	slices.Sort(cands)
	for _, t := range cands {
		t = pol.NextAllowed(time.UnixMilli(t), loc).UnixMilli()
		if capsAllow(pol.Caps, contacts, channels, t) {
			return t
		}
	}
	// Unreachable: past the last candidate no contact is within a period.
	return cands[len(cands)-1]
}

// locations caches customers' timezones by name: loading one reads the
// zoneinfo database, far too slow to do per customer per run.
var locations sync.Map // name → *time.Location, or nil for an unknown name

// customerLocation returns the customer's own timezone (attrs.timezone, an
// IANA name) when it is known, else brand.
func customerLocation(attrs map[string]any, brand *time.Location) *time.Location {
	name, _ := attrs["timezone"].(string)
	if name == "" {
		return brand
	}
	if v, ok := locations.Load(name); ok {
		if v == nil {
			return brand
		}
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		locations.Store(name, nil)
		return brand
	}
	locations.Store(name, loc)
	return loc
}

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
func applyPolicy(pb *rules.Playbook, snap *profile.Snapshot, p *profile.Profile, ds []decision, out *evaluation, planned []profile.ContactMark) ([]decision, []profile.ContactMark) {
	pol := pb.Policy
	if pol.Empty() {
		return ds, planned
	}
	var msgs []int // indexes into ds of decisions that message
	for k := range ds {
		if len(ruleChannels(pb.Rules[ds[k].rule], int(ds[k].variant))) > 0 {
			msgs = append(msgs, k)
		}
	}
	if len(msgs) == 0 {
		return ds, planned
	}
	sort.SliceStable(msgs, func(a, b int) bool {
		return pb.Rules[ds[msgs[a]].rule].Priority > pb.Rules[ds[msgs[b]].rule].Priority
	})
	loc := customerLocation(p.Attrs, snap.Config().Location)
	now := snap.Now.UnixMilli()
	due := pol.NextAllowed(snap.Now, loc).UnixMilli()
	history := profile.ContactsOf(p)
	capped := make([]bool, len(ds))
	for _, k := range msgs {
		d := &ds[k]
		r := pb.Rules[d.rule]
		chans := ruleChannels(r, int(d.variant))
		at := due
		contacts := [][]profile.ContactMark{history, planned}
		if !capsAllow(pol.Caps, contacts, chans, at) {
			if !r.DeferOnCap {
				capped[k] = true
				out.counts[d.rule].suppress(ReasonCap, 1)
				out.note(int(d.cust), int(d.rule), ReasonCap, "", "")
				continue
			}
			at = capSlot(pol, contacts, chans, at, loc)
			d.deferred = deferredCap
		} else if at > now {
			d.deferred = deferredQuietHours
		}
		if !limitsAllow(pol.Limits, contacts, chans, at) {
			capped[k] = true
			d.deferred = notDeferred
			out.counts[d.rule].suppress(ReasonChannelLimit, 1)
			out.note(int(d.cust), int(d.rule), ReasonChannelLimit, "", "")
			continue
		}
		if at > now {
			d.deliverAt = at
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

// ruleChannels returns the channels a rule's fire messages on, in a
// variant (-1 for none).
func ruleChannels(r *rules.Rule, variant int) []string {
	if variant < 0 || len(r.Variants) == 0 {
		return r.Channels
	}
	v := r.Variants[variant].Channels
	if len(r.Channels) == 0 {
		return v
	}
	return append(slices.Clip(r.Channels), v...)
}

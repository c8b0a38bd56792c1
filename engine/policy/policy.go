// Package policy is the contact policy koi applies to every message a fire
// would send: frequency caps over the customer's contact history, quiet
// hours in the customer's timezone, consent (opt-outs) and the limits a
// channel's provider imposes. It is pure: it decides from the history and
// the moment it is given.
package policy

import (
	"slices"
	"sync"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Suppression and deferral reasons of the contact policy.
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

// WithoutConsent returns the first of channels the customer opted out of.
func WithoutConsent(optOut []string, channels []string) (string, bool) {
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

// CapsAllow reports whether messages on channels may be due at t, given
// the customer's contacts (past and already planned). A cap counts the
// contacts within one period either side of t: for contacts in the past
// that is the rolling window ending at t, and a message planned for later
// (a deferral) counts against the windows it will fall in too.
func CapsAllow(caps []rules.Cap, contacts [][]profile.ContactMark, channels []string, t int64) bool {
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

// LimitsAllow reports whether the channels' own limits let the customer
// receive messages on channels at t, counting their contacts (past and
// planned) on each limited channel in the limit's period around t.
func LimitsAllow(limits map[string]actions.CustomerLimiter, contacts [][]profile.ContactMark, channels []string, t int64) bool {
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

// CapSlot returns the first moment at or after from when the caps allow
// the messages and quiet hours do not hold them, trying the moments when
// an earlier contact leaves a cap's period.
func CapSlot(pol rules.Policy, contacts [][]profile.ContactMark, channels []string, from int64, loc *time.Location) int64 {
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
		if CapsAllow(pol.Caps, contacts, channels, t) {
			return t
		}
	}
	// Unreachable: past the last candidate no contact is within a period.
	return cands[len(cands)-1]
}

// locations caches customers' timezones by name: loading one reads the
// zoneinfo database, far too slow to do per customer per run. Names come
// from customers' attrs, which callers write, so the cache is bounded:
// past maxLocations names a new one is loaded and not kept.
var locations = struct {
	sync.RWMutex
	byName map[string]*time.Location // nil for an unknown name
}{byName: map[string]*time.Location{}}

const maxLocations = 4096

// CustomerLocation returns the customer's own timezone (the value of
// attrs.timezone, an IANA name) when it is known, else brand.
func CustomerLocation(timezone any, brand *time.Location) *time.Location {
	name, _ := timezone.(string)
	if name == "" {
		return brand
	}
	locations.RLock()
	loc, ok := locations.byName[name]
	locations.RUnlock()
	if !ok {
		var err error
		if loc, err = time.LoadLocation(name); err != nil {
			loc = nil
		}
		locations.Lock()
		if len(locations.byName) < maxLocations {
			locations.byName[name] = loc
		}
		locations.Unlock()
	}
	if loc == nil {
		return brand
	}
	return loc
}

// Deferral is why a decision's messages wait; a byte rather than
// the reason's string keeps an evaluation's decision at 24 bytes.
type Deferral uint8

const (
	NotDeferred Deferral = iota
	DeferredQuietHours
	DeferredCap
)

// Reason returns the deferral's reason as runs count it.
func (d Deferral) Reason() string {
	switch d {
	case DeferredQuietHours:
		return ReasonQuietHours
	case DeferredCap:
		return ReasonCap
	}
	return ""
}

package profile

import (
	"slices"
	"sort"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// OptOutAll in a customer's opt-out list means every channel.
const OptOutAll = actions.OptOutAll

// ContactMark is one message to a customer: when it is (or was) due, and
// on which channel.
type ContactMark struct {
	At      int64 // unix milliseconds
	Channel string
}

// AddContact records a message to customer index i, keeping the
// customer's contacts sorted by time.
func (p *Pond) AddContact(i int, at time.Time, channel string) {
	m := ContactMark{At: at.UnixMilli(), Channel: channel}
	ex := p.extrasOf(i)
	cs := ex.contacts
	if n := len(cs); n > 0 && cs[n-1].At > m.At {
		// As with events: a snapshot may be reading the old array.
		pos := sort.Search(n, func(k int) bool { return cs[k].At > m.At })
		out := make([]ContactMark, 0, n+1)
		cs = append(append(append(out, cs[:pos]...), m), cs[pos:]...)
	} else {
		cs = append(cs, m)
	}
	ex.contacts = cs
}

// UnionOptOut returns the channels of both lists, sorted, without repeats:
// opting out only ever adds. A list longer than MaxOptOuts becomes every
// channel: a customer who opted out of that many opted out of all, and the
// list a caller can grow stays bounded.
func UnionOptOut(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > domain.MaxOptOuts {
		return []string{OptOutAll}
	}
	return out
}

// MarkOptOuts sets the OptOut of each event of the unsubscribe type, for
// the store to record with it. Engine.AddEvents does it; a bulk import
// that writes to the store directly must too.
func MarkOptOuts(evs []domain.Event, unsubscribeType string) {
	for i := range evs {
		evs[i].OptOut, _ = optOutChannel(&evs[i], unsubscribeType)
	}
}

// optOutChannel says which channel an event opts its customer out of, when
// its type is the configured unsubscribe type: attrs.channel, or every
// channel (OptOutAll) when it names none.
func optOutChannel(e *domain.Event, unsubscribeType string) (string, bool) {
	if unsubscribeType == "" || e.Type != unsubscribeType {
		return "", false
	}
	// A channel name no channel could have (too long, not text) opts out
	// of every channel: consent errs on the side of silence.
	if ch, _ := e.Attrs["channel"].(string); ch != "" && domain.CheckText("channel", ch, domain.MaxChannelName) == nil {
		return ch, true
	}
	return OptOutAll, true
}

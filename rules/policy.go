package rules

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/koihq/koi/actions"
)

// Policy is a contact policy: how often, and when, customers may be
// messaged. koi.yaml sets one for every playbook; a playbook's own policy
// adds to it, so it can only tighten it: every cap and every quiet window
// of both apply.
type Policy struct {
	// Caps bound the messages a customer gets in a rolling period. All of
	// them apply.
	Caps []Cap
	// Quiet are windows of the day in which no message is delivered: one
	// due then waits for the window's end.
	Quiet []QuietHours
	// Limits are the channels' own limits on what one customer receives
	// (WeCom's monthly mass messages), by channel name. They come from
	// the configured channels, not from a file.
	Limits map[string]actions.CustomerLimiter
}

// Cap is at most Messages messages per customer in any Per-long period,
// on Channel, or on all channels when Channel is empty.
type Cap struct {
	Channel  string
	Messages int
	Per      time.Duration
	// Source says where the cap was set ("koi.yaml" or the playbook's
	// file), for reports and errors.
	Source string
}

// String renders the cap as a marketer wrote it: "3 per 7d on wecom".
func (c Cap) String() string {
	s := strconv.Itoa(c.Messages) + " per " + actions.Duration(c.Per).String()
	if c.Channel != "" {
		s += " on " + c.Channel
	}
	return s
}

// QuietHours is a daily window [From, To) in minutes after local midnight;
// From > To wraps midnight (21:30–09:00).
type QuietHours struct {
	From, To int
}

// String renders the window as "21:30-09:00".
func (q QuietHours) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.From/60, q.From%60, q.To/60, q.To%60)
}

// contains reports whether minute m of the day is inside the window.
func (q QuietHours) contains(m int) bool {
	if q.From <= q.To {
		return m >= q.From && m < q.To
	}
	return m >= q.From || m < q.To
}

// Empty reports whether the policy constrains nothing.
func (p Policy) Empty() bool { return len(p.Caps) == 0 && len(p.Quiet) == 0 && len(p.Limits) == 0 }

// Merge returns the policy with both p's and o's caps and quiet windows.
func (p Policy) Merge(o Policy) Policy {
	limits := p.Limits
	if len(o.Limits) > 0 {
		limits = maps.Clone(p.Limits)
		if limits == nil {
			limits = map[string]actions.CustomerLimiter{}
		}
		maps.Copy(limits, o.Limits)
	}
	return Policy{Caps: append(slices.Clip(p.Caps), o.Caps...), Quiet: append(slices.Clip(p.Quiet), o.Quiet...), Limits: limits}
}

// NextAllowed returns the first moment at or after t, in loc, that is
// outside every quiet window: t itself when it is outside them already.
// Windows that overlap or touch are passed in one call.
func (p Policy) NextAllowed(t time.Time, loc *time.Location) time.Time {
	if len(p.Quiet) == 0 {
		return t
	}
	for range 2 * len(p.Quiet) {
		local := t.In(loc)
		m := local.Hour()*60 + local.Minute()
		moved := false
		for _, q := range p.Quiet {
			if !q.contains(m) {
				continue
			}
			// The window's end on the right local day: today when it is
			// still ahead, tomorrow when the window wrapped past midnight
			// and we are in its evening part.
			day := local
			if q.From > q.To && m >= q.From {
				day = local.AddDate(0, 0, 1)
			}
			t = time.Date(day.Year(), day.Month(), day.Day(), q.To/60, q.To%60, 0, 0, loc)
			moved = true
		}
		if !moved {
			return t
		}
	}
	return t
}

// PolicyYAML is the contact policy as koi.yaml and playbooks write it:
//
//	policy:
//	  cap: { messages: 3, per: 7d }        # across all channels
//	  channels:
//	    wecom: { messages: 1, per: 1d }    # one channel
//	  quiet_hours: { from: "21:30", to: "09:00" }
type PolicyYAML struct {
	// Cap bounds messages on all channels together.
	Cap *CapYAML `yaml:"cap" json:"cap,omitempty"`
	// Channels bound messages per channel, by channel name.
	Channels map[string]CapYAML `yaml:"channels" json:"channels,omitempty"`
	// QuietHours is the daily window without messages, in the brand's
	// timezone or the customer's own (attrs.timezone) when set.
	QuietHours *QuietYAML `yaml:"quiet_hours" json:"quiet_hours,omitempty"`
}

// CapYAML is one frequency cap.
type CapYAML struct {
	// Messages is the most messages in any period of length Per.
	Messages int `yaml:"messages" json:"messages"`
	// Per is the rolling period, like 7d or 24h.
	Per string `yaml:"per" json:"per"`
}

// QuietYAML is a quiet window, "HH:MM" to "HH:MM".
type QuietYAML struct {
	From string `yaml:"from" json:"from"`
	To   string `yaml:"to" json:"to"`
}

// FieldError is a problem with one field of a policy, named by its dotted
// path under `policy` (cap.per, channels.wecom.messages).
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Compile checks the policy and returns it, or every problem found. source
// is recorded on the caps; channels, when not nil, are the configured
// channel names a per-channel cap must name.
func (py *PolicyYAML) Compile(source string, channels []string) (Policy, []FieldError) {
	var p Policy
	var errs []FieldError
	if py == nil {
		return p, nil
	}
	addCap := func(field, channel string, c CapYAML) {
		n := len(errs)
		if c.Messages <= 0 {
			errs = append(errs, FieldError{field + ".messages", fmt.Sprintf("want the most messages per period, at least 1, got %d", c.Messages)})
		}
		per, err := actions.ParseDuration(c.Per)
		switch {
		case c.Per == "":
			errs = append(errs, FieldError{field + ".per", "is required: the rolling period, like 7d"})
		case err != nil:
			errs = append(errs, FieldError{field + ".per", err.Error()})
		case per <= 0:
			errs = append(errs, FieldError{field + ".per", "must be positive"})
		}
		if len(errs) == n {
			p.Caps = append(p.Caps, Cap{Channel: channel, Messages: c.Messages, Per: per, Source: source})
		}
	}
	if py.Cap != nil {
		addCap("cap", "", *py.Cap)
	}
	names := make([]string, 0, len(py.Channels))
	for ch := range py.Channels {
		names = append(names, ch)
	}
	sort.Strings(names)
	for _, ch := range names {
		if channels != nil && !slices.Contains(channels, ch) {
			errs = append(errs, FieldError{"channels." + ch, fmt.Sprintf("unknown channel %q (configured: %s)", ch, strings.Join(channels, ", "))})
			continue
		}
		addCap("channels."+ch, ch, py.Channels[ch])
	}
	if q := py.QuietHours; q != nil {
		from, err1 := parseClock(q.From)
		to, err2 := parseClock(q.To)
		if err1 != nil {
			errs = append(errs, FieldError{"quiet_hours.from", err1.Error()})
		}
		if err2 != nil {
			errs = append(errs, FieldError{"quiet_hours.to", err2.Error()})
		}
		if err1 == nil && err2 == nil {
			if from == to {
				errs = append(errs, FieldError{"quiet_hours.to", "must differ from from: an empty window silences nothing, a full day would silence everything"})
			} else {
				p.Quiet = append(p.Quiet, QuietHours{From: from, To: to})
			}
		}
	}
	return p, errs
}

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a time of day like 21:30, got %q", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Redundant names the caps of p that can never bind because a cap of
// base already allows fewer: at most as many messages in a period at
// least as long. A playbook's caps add to koi.yaml's, so nothing a
// playbook says can loosen the policy; a laxer value is still reported,
// because the marketer who wrote it expects it to matter.
func (p Policy) Redundant(base Policy) []FieldError {
	var errs []FieldError
	for _, c := range p.Caps {
		for _, b := range base.Caps {
			if b.Channel != "" && b.Channel != c.Channel {
				continue
			}
			if b.Messages <= c.Messages && b.Per >= c.Per {
				field := "cap"
				if c.Channel != "" {
					field = "channels." + c.Channel
				}
				errs = append(errs, FieldError{field, fmt.Sprintf("%s has no effect: koi.yaml's %s already allows fewer (a playbook can only tighten the contact policy)", c, b)})
				break
			}
		}
	}
	return errs
}

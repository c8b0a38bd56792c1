package actions

import "slices"

// OptOutAll in a customer's opt-out list means every channel: what an
// unsubscribe without a channel records.
const OptOutAll = "*"

// OptedOut reports whether a customer whose opt-out list is optOut may not
// be sent to on channel. It is koi's one consent check: the engine asks it
// before a rule fires, approvals before a held run is written, and the
// dispatcher before every delivery, so an opt-out of every channel (OptOutAll)
// holds wherever a message could leave.
func OptedOut(optOut []string, channel string) bool {
	return slices.Contains(optOut, channel) || slices.Contains(optOut, OptOutAll)
}

// OptedOut reports whether the customer may not be sent to on channel.
func (c Contact) OptedOut(channel string) bool { return OptedOut(c.OptOut, channel) }

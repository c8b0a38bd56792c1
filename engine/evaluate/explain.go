package evaluate

import (
	"time"

	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// ExplainState is the customer's standing with a rule's suppressions.
type ExplainState struct {
	// LastFire is the rule's latest fire for the customer, Fires their
	// number; CooldownUntil when the rule may fire again (nil when it
	// may now, or never again for once rules, see Once).
	LastFire      *time.Time `json:"last_fire,omitempty"`
	Fires         int        `json:"fires"`
	CooldownUntil *time.Time `json:"cooldown_until,omitempty"`
	Once          bool       `json:"once"`
	// Holdout says the customer is in the playbook's control group.
	Holdout bool `json:"holdout"`
	// Group is the rule's benefit group, and GroupFire the group's latest
	// fire for the customer, by any of its rules: it counts for cooldown
	// and once as the rule's own would.
	Group     string     `json:"group,omitempty"`
	GroupFire *GroupFire `json:"group_fire,omitempty"`
	// Channels are the channels the rule messages on; OptOut those the
	// customer opted out of.
	Channels        []string `json:"channels,omitempty"`
	OptOut          []string `json:"opt_out,omitempty"`
	Contacts7d      int      `json:"contacts_7d"`
	LastContactDays *int     `json:"last_contact_days,omitempty"`
}

// GroupFire is the latest fire of a benefit group for a customer.
type GroupFire struct {
	// By is the rule that fired, as playbook/rule.
	By string     `json:"by"`
	At *time.Time `json:"at"`
}

// StateOf gathers what a rule's suppressions look at for the customer at
// pond position pos.
func StateOf(pb *rules.Playbook, r *rules.Rule, pos int, p *profile.Profile, marks *Marks, now time.Time) ExplainState {
	st := ExplainState{Once: r.Once, Holdout: InHoldout(pb.Name, p.ID, pb.HoldoutBP),
		Channels: RuleChannels(r, VariantOf(pb.Name, r, p.ID)), OptOut: profile.OptOutOf(p),
		Contacts7d: p.Contacts7d, LastContactDays: p.LastContactDays, Group: r.Group}
	var until time.Time
	if mark := marks.Rule(r.ID, pos, p.ID); mark.Seq > 0 {
		at := mark.At
		st.LastFire, st.Fires = &at, mark.Seq
		until = at.Add(r.Cooldown)
	}
	if mark := marks.Group(r.Group, pos, p.ID); !mark.At.IsZero() {
		at := mark.At
		st.GroupFire = &GroupFire{By: mark.By, At: &at}
		until = later(until, at.Add(r.Cooldown))
	}
	if !r.Once && now.Before(until) {
		st.CooldownUntil = &until
	}
	return st
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

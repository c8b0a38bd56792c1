// Package rules is koi's playbook file format: the YAML structure, strict
// parsing with file:line:col errors, and compilation of conditions with expr.
package rules

import (
	"slices"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/koihq/koi/actions"
)

// Playbook is a loaded, validated and compiled playbook file.
type Playbook struct {
	Name        string
	Description string
	// File is the path the playbook was loaded from.
	File string
	// Hash identifies this version of the file's content; fires record it.
	Hash string
	// Source is the file's content this version was loaded from.
	Source string
	// Schedule is the cron spec or "@every" interval; empty when the
	// playbook only runs on demand or on events.
	Schedule string
	// Cron is the parsed Schedule, nil when Schedule is empty.
	Cron cron.Schedule
	// Location is the timezone the schedule and calendar days use.
	Location *time.Location
	// Audience prefilters customers; nil means everyone.
	Audience *Condition
	// HoldoutBP is the control group share in basis points (1000 = 10%).
	HoldoutBP int
	// HoldoutSet says the file states a holdout, even 0%: a deliberate
	// choice, which lint does not question.
	HoldoutSet bool
	// MaxFires is the blast guard.
	MaxFires Limit
	// Policy is the contact policy the playbook's messages obey: koi.yaml's
	// with the playbook's own additions.
	Policy Policy
	// Attribution is how long after a fire an order counts as its
	// outcome in reports (default DefaultAttribution).
	Attribution time.Duration
	Rules       []*Rule
	// Journey, when set, is what the playbook does instead of Rules,
	// which is then empty.
	Journey *Journey
}

// Groups returns the benefit groups the playbook's rules name, sorted,
// each once.
func (pb *Playbook) Groups() []string {
	var out []string
	for _, r := range pb.Rules {
		if r.Group != "" && !slices.Contains(out, r.Group) {
			out = append(out, r.Group)
		}
	}
	slices.Sort(out)
	return out
}

// DefaultAttribution is the attribution window of a playbook that sets none.
const DefaultAttribution = 14 * 24 * time.Hour

// Rule is one rule of a playbook.
type Rule struct {
	ID string
	// On is the event type that triggers the rule; empty for scheduled rules.
	On   string
	When *Condition
	// Cooldown is the minimum time between two fires for one customer;
	// zero when Once is set.
	Cooldown time.Duration
	// Once means the rule fires at most once per customer, ever.
	Once bool
	// Group names the rule's benefit group, if any. A fire of any rule of
	// the group, in any playbook, counts for cooldown and once as if every
	// rule of the group had fired; each applies its own cooldown length.
	Group string
	// Stop makes later rules of the playbook skip a customer this rule fired for.
	Stop bool
	// Priority orders rules that want to message one customer in the same
	// run when the frequency cap allows only some: higher goes first.
	Priority int
	// DeferOnCap queues a capped match's messages for the first moment the
	// cap allows them, instead of recording it as capped.
	DeferOnCap bool
	// Actions are done for every fire, before the variant's own.
	Actions []RuleAction
	// Channels lists the channel of each message Actions send.
	Channels []string
	// Variants, when set, split the rule's fires into an A/B test: each
	// customer is assigned one variant, by weight, for good.
	Variants []*Variant
	// Line is where the rule starts in its file, for reports and tools.
	Line int
	// After is, for a step of a journey, how long after entry it is due.
	After time.Duration
}

// Variant is one arm of a rule's A/B test.
type Variant struct {
	ID string
	// Weight is the variant's share relative to the rule's other variants.
	Weight   int
	Actions  []RuleAction
	Channels []string
}

// RuleAction is one decoded and validated action of a rule.
type RuleAction struct {
	Kind   string
	Action actions.Action
}

// Limit is a bound given either as a count or as a share of the audience.
type Limit struct {
	Count int
	// BP is a share of the audience in basis points, used when Count is 0.
	BP int
	// Floor is the least a share may come to, so small ponds are not held
	// for ordinary runs; only the default guard sets it.
	Floor int
}

// Of returns the bound for an audience of n customers.
func (l Limit) Of(n int) int {
	if l.Count > 0 {
		return l.Count
	}
	return max(int(int64(n)*int64(l.BP)/10000), l.Floor)
}

// DefaultMaxFires guards playbooks that set no limit: a fifth of the audience,
// but never fewer than DefaultMaxFiresFloor, so small ponds are not held for
// ordinary runs.
var DefaultMaxFires = Limit{BP: 2000, Floor: 100}

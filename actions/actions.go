// Package actions is the plugin contract of koi: what an action is, how it is
// configured from a playbook, and which side effects it may perform. It
// imports nothing else of koi, so that plugins never depend on the engine.
package actions

import (
	"context"
	"time"
)

// Action is one configured action of a rule. A value is created by the
// registry's constructor, decoded strictly from the playbook's YAML into the
// struct's `yaml` fields, validated once at load time, and then run for every
// fire of its rule.
type Action interface {
	// Validate checks the decoded parameters. A *FieldError names the
	// offending parameter so the loader can point at its line and column.
	Validate(lc LoadContext) error
	// Do performs the action for one fire. Local actions run inside the
	// fire's database transaction through fx: if Do fails, the fire and all
	// of its effects are rolled back together.
	Do(ctx context.Context, f *Fire, fx Effects) (Result, error)
}

// ScalarDecoder is implemented by actions that accept a one-value shorthand,
// such as `set_tier: vip` for `set_tier: {tier: vip}`.
type ScalarDecoder interface {
	DecodeScalar(value string) error
}

// LoadContext is what validation may consult about the deployment and the
// rule the action belongs to.
type LoadContext struct {
	// Tiers are the configured member tiers, lowest first.
	Tiers []string
	// Channels names the configured message channels. Nil means the
	// deployment is unknown (checking a playbook without a config): any
	// name is accepted.
	Channels []string
	// Shapes bound what a message on a channel may carry, by channel name
	// (see Shaper); a channel without one takes anything.
	Shapes map[string]MessageShape
	// Guides are the configured sales guides. Nil means the deployment is
	// unknown: any guide is accepted.
	Guides []Guide
	// Sample is a sample profile, every attribute set, to try templates
	// on, so that a template error is a load error.
	Sample map[string]any
	// Earlier holds sample results of the rule's earlier actions by kind
	// (see Sampler), so a template can be checked to quote them.
	Earlier map[string]Result
}

// Sampler is implemented by actions whose results later actions may quote:
// SampleResult returns a result shaped like a real one, for LoadContext.Earlier.
type Sampler interface {
	SampleResult() Result
}

// Messenger is implemented by actions that contact the customer. The
// channels they send on are what the contact policy governs: a rule whose
// messengers send on a channel the customer opted out of does not fire
// (consent), and each message counts against the frequency caps. Actions
// that call other systems without reaching the customer do not implement
// it.
type Messenger interface {
	// Channels lists the channel of each message the action sends per
	// fire; a channel listed twice counts as two messages.
	Channels() []string
}

// Result is what an action reports back; later actions of the same fire see
// it in Fire.Results under the action's kind (a message can quote the coupon).
type Result map[string]any

// Fire describes one firing of a rule for one customer. It is valid only
// while Do runs: the engine reuses it for the next fire, so an action
// copies what it keeps (the strings are immutable and safe to keep; the
// Fire and its Results map are not).
type Fire struct {
	Playbook   string
	Rule       string
	RunID      int64
	FireID     int64
	CustomerID string
	At         time.Time
	// Key is stable for this fire across retries and re-runs: use it as the
	// idempotency key towards anything outside koi.
	Key string
	// Index is the position of the action within its rule, so that two
	// actions of the same kind in one rule get distinct keys.
	Index int
	// ProfileFunc computes the customer's profile values; the engine sets
	// it. Actions call Profile instead.
	ProfileFunc func() map[string]any
	// Results holds the results of the earlier actions of this fire by kind.
	Results map[string]Result
	// ResultUnread is true when no later action will read this action's
	// result (it is the fire's last): the action may return a nil Result
	// rather than build one, which a run of many fires notices.
	ResultUnread bool

	profile map[string]any
}

// Profile returns the customer's profile values by attribute name. They
// are computed on first use: most actions never look, and computing them
// for every fire of a large run is measurable.
func (f *Fire) Profile() map[string]any {
	if f.profile == nil && f.ProfileFunc != nil {
		f.profile = f.ProfileFunc()
	}
	return f.profile
}

// Coupon is one entry of the coupon ledger. Money is in fen.
type Coupon struct {
	Code        string
	CustomerID  string
	FireID      int64
	AmountFen   int64
	MinSpendFen int64
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// Warner is implemented by actions that load but may not do what their
// author meant (a personalised message on a channel that batches); koi
// check prints the warnings at the action's rule.
type Warner interface {
	Warnings() []string
}

// Batched is implemented by messengers whose messages may share one
// delivery with others' (a WeCom task for many customers of a guide).
// Batching returns the channel when the message batches there ("" when
// it does not), and whether its text differs per customer, which makes
// every customer a delivery of their own.
type Batched interface {
	Batching() (channel string, personal bool)
}

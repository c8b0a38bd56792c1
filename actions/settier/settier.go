// Package settier is the built-in `set_tier` action: it moves a customer to
// a configured tier (up or down).
package settier

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name.
const Kind = "set_tier"

var (
	_ actions.Action        = (*SetTier)(nil)
	_ actions.ScalarDecoder = (*SetTier)(nil)
)

// SetTier sets the tier: `set_tier: vip` or `set_tier: { tier: vip }`.
type SetTier struct {
	// Tier must be one of the configured tiers.
	Tier string `yaml:"tier"`
}

// New returns an undecoded set_tier action for the registry.
func New() actions.Action { return &SetTier{} }

// DecodeScalar accepts the shorthand `set_tier: vip`.
func (s *SetTier) DecodeScalar(v string) error {
	s.Tier = v
	return nil
}

// Validate requires a configured tier.
func (s *SetTier) Validate(lc actions.LoadContext) error {
	if s.Tier == "" {
		return actions.Errorf("tier", "is required")
	}
	if len(lc.Tiers) > 0 && !slices.Contains(lc.Tiers, s.Tier) {
		return actions.Errorf("tier", "unknown tier %q (configured tiers: %s)", s.Tier, strings.Join(lc.Tiers, ", "))
	}
	return nil
}

// Do changes the tier.
func (s *SetTier) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	if err := fx.SetTier(f.CustomerID, s.Tier); err != nil {
		return nil, fmt.Errorf("set tier: %w", err)
	}
	if f.ResultUnread {
		return nil, nil
	}
	return actions.Result{"tier": s.Tier}, nil
}

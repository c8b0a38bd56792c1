// Package tag is the built-in `tag` action: it adds and removes customer tags.
package tag

import (
	"context"
	"fmt"
	"strings"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name.
const Kind = "tag"

var _ actions.Action = (*Tag)(nil)

// Tag changes tags: `tag: { add: [vip-2026], remove: [lapsed] }`.
type Tag struct {
	// Add lists tags to add.
	Add []string `yaml:"add"`
	// Remove lists tags to remove.
	Remove []string `yaml:"remove"`
}

// New returns an undecoded tag action for the registry.
func New() actions.Action { return &Tag{} }

// Validate requires at least one change and non-blank, non-conflicting tags.
func (t *Tag) Validate(actions.LoadContext) error {
	var errs actions.Errors
	if len(t.Add) == 0 && len(t.Remove) == 0 {
		errs = append(errs, actions.Errorf("add", "give at least one tag to add or remove"))
	}
	adding := map[string]bool{}
	for _, s := range t.Add {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, actions.Errorf("add", "tags must not be blank"))
		}
		adding[s] = true
	}
	for _, s := range t.Remove {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, actions.Errorf("remove", "tags must not be blank"))
		}
		if adding[s] {
			errs = append(errs, actions.Errorf("remove", "tag %q is both added and removed", s))
		}
	}
	return errs.Err()
}

// Do applies the change.
func (t *Tag) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	tags, err := fx.UpdateTags(f.CustomerID, t.Add, t.Remove)
	if err != nil {
		return nil, fmt.Errorf("update tags: %w", err)
	}
	if f.ResultUnread {
		return nil, nil
	}
	return actions.Result{"tags": tags}, nil
}

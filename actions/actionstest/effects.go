// Package actionstest helps test actions without koi's engine: an
// in-memory Effects that records what an action did, and a fire to run it
// on. An action's unit test decodes nothing and opens no database:
//
//	fx := actionstest.NewEffects()
//	res, err := a.Do(ctx, actionstest.Fire("c1", nil), fx)
//	// inspect fx.Jobs, fx.Coupons, fx.Tasks, res
package actionstest

import (
	"fmt"
	"slices"
	"time"

	"github.com/koihq/koi/actions"
)

// Effects is an in-memory actions.Effects. Its fields are what actions
// did, and what they may read; set them up before Do, inspect them after.
type Effects struct {
	Coupons []actions.Coupon
	// Tags and Tiers are customers' tags and tiers now.
	Tags  map[string][]string
	Tiers map[string]string
	// CustomerGuides maps customers to their guides.
	CustomerGuides map[string]string
	// Roster is what GuideRoster returns; CreateTask counts into it.
	Roster actions.GuideRoster
	Tasks  []actions.Task
	Jobs   []actions.Job
	// Err, when set, is returned by every effect: an action must pass it on.
	Err error
}

var _ actions.Effects = (*Effects)(nil)

// NewEffects returns empty effects.
func NewEffects() *Effects {
	return &Effects{Tags: map[string][]string{}, Tiers: map[string]string{}, CustomerGuides: map[string]string{}}
}

// IssueCoupon records c.
func (e *Effects) IssueCoupon(c actions.Coupon) error {
	if e.Err != nil {
		return e.Err
	}
	e.Coupons = append(e.Coupons, c)
	return nil
}

// UpdateTags changes Tags.
func (e *Effects) UpdateTags(customerID string, add, remove []string) ([]string, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	tags := actions.ChangeTags(e.Tags[customerID], add, remove)
	e.Tags[customerID] = tags
	return tags, nil
}

// SetTier changes Tiers.
func (e *Effects) SetTier(customerID, tier string) error {
	if e.Err != nil {
		return e.Err
	}
	e.Tiers[customerID] = tier
	return nil
}

// GuideRoster returns Roster.
func (e *Effects) GuideRoster() (actions.GuideRoster, error) {
	if e.Err != nil {
		return actions.GuideRoster{}, e.Err
	}
	r := e.Roster
	r.Guides = slices.Clone(r.Guides)
	return r, nil
}

// CustomerGuide reads CustomerGuides.
func (e *Effects) CustomerGuide(customerID string) (string, error) {
	return e.CustomerGuides[customerID], e.Err
}

// AssignGuide changes CustomerGuides.
func (e *Effects) AssignGuide(customerID, guideID string) error {
	if e.Err != nil {
		return e.Err
	}
	e.CustomerGuides[customerID] = guideID
	return nil
}

// CreateTask records t and counts it into the guide's load.
func (e *Effects) CreateTask(t actions.Task) error {
	if e.Err != nil {
		return e.Err
	}
	i := slices.IndexFunc(e.Roster.Guides, func(g actions.GuideLoad) bool { return g.ID == t.Guide })
	if i < 0 {
		return fmt.Errorf("no guide %q in the roster", t.Guide)
	}
	e.Roster.Guides[i].Open++
	e.Roster.Last = t.Guide
	e.Tasks = append(e.Tasks, t)
	return nil
}

// Enqueue records j.
func (e *Effects) Enqueue(j actions.Job) error {
	if e.Err != nil {
		return e.Err
	}
	e.Jobs = append(e.Jobs, j)
	return nil
}

// At is the time of the fires Fire makes.
var At = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// Fire returns a fire of rule "test/rule" for customer id, with profile
// as its profile values (nil: none), at At.
func Fire(id string, profile map[string]any) *actions.Fire {
	return &actions.Fire{Playbook: "test", Rule: "rule", RunID: 1, FireID: 1, CustomerID: id, At: At,
		Key: "test/rule/" + id + "/1", ProfileFunc: func() map[string]any { return profile }}
}

// Package assignguide is the built-in `assign_guide` action: it gives the
// customer a sales guide (导购) and the guide a follow-up task, in the
// fire's transaction.
package assignguide

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/koihq/koi/actions"
)

// Kind is the action's playbook name.
const Kind = "assign_guide"

// Strategies.
const (
	// LeastLoaded picks the guide with the fewest open tasks; ties go to
	// the guide listed first.
	LeastLoaded = "least_loaded"
	// RoundRobin picks the guide after the one most recently given a
	// task, in the order koi.yaml lists them.
	RoundRobin = "round_robin"
)

var (
	_ actions.Action  = (*AssignGuide)(nil)
	_ actions.Sampler = (*AssignGuide)(nil)
)

// AssignGuide assigns a guide and creates their follow-up task:
//
//	assign_guide: { strategy: least_loaded, task: "VIP 欢迎回访:{{.name}}", due_in: 2d }
//
// A customer who has a guide keeps them, unless reassign is true; a guide
// no longer configured counts as none. Guides at capacity are passed over
// for new customers; when every guide is full the fire fails and the
// customer is tried again on the next run. The customer's own guide gets
// the task even when full: they know the customer.
type AssignGuide struct {
	// Strategy is least_loaded (the default) or round_robin.
	Strategy string `yaml:"strategy"`
	// Reassign picks a guide by strategy even for a customer who has one.
	Reassign bool `yaml:"reassign"`
	// Task is the note for the guide, a template like message's.
	Task string `yaml:"task"`
	// DueIn is how long the guide has to follow up (default 3d).
	DueIn actions.Duration `yaml:"due_in"`

	note *actions.Template
}

// New returns an undecoded assign_guide action for the registry.
func New() actions.Action { return &AssignGuide{} }

// Validate checks the strategy and the task's template.
func (a *AssignGuide) Validate(lc actions.LoadContext) error {
	var errs actions.Errors
	switch a.Strategy {
	case "":
		a.Strategy = LeastLoaded
	case LeastLoaded, RoundRobin:
	default:
		errs = append(errs, actions.Errorf("strategy", "unknown strategy %q: want %s or %s", a.Strategy, LeastLoaded, RoundRobin))
	}
	if lc.Guides != nil && len(lc.Guides) == 0 {
		errs = append(errs, actions.Errorf("strategy", "no guides are configured: list them under guides: in koi.yaml"))
	}
	if a.DueIn < 0 {
		errs = append(errs, actions.Errorf("due_in", "must be positive, like 2d"))
	} else if a.DueIn == 0 {
		a.DueIn = actions.Duration(3 * 24 * time.Hour)
	}
	if strings.TrimSpace(a.Task) == "" {
		errs = append(errs, actions.Errorf("task", `is required: the guide's note, like "VIP 欢迎回访:{{.name}}"`))
	} else if t, err := actions.ParseTemplate("task", a.Task, lc); err != nil {
		errs = append(errs, err)
	} else {
		a.note = t
	}
	return errs.Err()
}

// Do assigns the guide and creates the task.
func (a *AssignGuide) Do(_ context.Context, f *actions.Fire, fx actions.Effects) (actions.Result, error) {
	current, err := fx.CustomerGuide(f.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("read guide: %w", err)
	}
	roster, err := fx.GuideRoster()
	if err != nil {
		return nil, fmt.Errorf("read guides: %w", err)
	}
	g, ok := find(roster.Guides, current)
	if !ok || a.Reassign {
		if g, ok = a.pick(roster); !ok {
			return nil, fmt.Errorf("every one of the %d guides is at capacity; the customer is tried again next run", len(roster.Guides))
		}
	}
	if g.ID != current {
		if err := fx.AssignGuide(f.CustomerID, g.ID); err != nil {
			return nil, fmt.Errorf("assign guide: %w", err)
		}
	}
	note, err := a.note.Render(f)
	if err != nil {
		return nil, fmt.Errorf("render task: %w", err)
	}
	due := f.At.Add(a.DueIn.Std())
	if err := fx.CreateTask(actions.Task{Guide: g.ID, CustomerID: f.CustomerID, Note: note, DueAt: due}); err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	return actions.Result{"guide": g.ID, "guide_name": g.Name, "previous": current, "task": note, "due_at": due}, nil
}

// pick chooses a guide with room by the strategy.
func (a *AssignGuide) pick(r actions.GuideRoster) (actions.GuideLoad, bool) {
	n := len(r.Guides)
	if a.Strategy == RoundRobin {
		start := 0
		for i, g := range r.Guides {
			if g.ID == r.Last {
				start = i + 1
			}
		}
		for k := range n {
			if g := r.Guides[(start+k)%n]; !g.Full() {
				return g, true
			}
		}
		return actions.GuideLoad{}, false
	}
	best := -1
	for i, g := range r.Guides {
		if !g.Full() && (best < 0 || g.Open < r.Guides[best].Open) {
			best = i
		}
	}
	if best < 0 {
		return actions.GuideLoad{}, false
	}
	return r.Guides[best], true
}

func find(gs []actions.GuideLoad, id string) (actions.GuideLoad, bool) {
	for _, g := range gs {
		if id != "" && g.ID == id {
			return g, true
		}
	}
	return actions.GuideLoad{}, false
}

// SampleResult is a result shaped like Do's, so a later message can say
// "您的专属顾问{{.assign_guide.guide_name}}".
func (a *AssignGuide) SampleResult() actions.Result {
	return actions.Result{"guide": "g01", "guide_name": "示例导购", "previous": "", "task": "sample", "due_at": time.Time{}}
}

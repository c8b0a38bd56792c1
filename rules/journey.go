package rules

import (
	"fmt"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/koihq/koi/actions"
)

// Journey is a playbook's multi-step sequence (DESIGN §3b): customers
// enter it on an event or when a condition holds on the schedule, and
// each step fires once per entry when its time after entry has come,
// unless the customer left by exit_when first.
type Journey struct {
	// EnterOn is the event type whose arrival enters a customer; "" when
	// entry is scheduled (EnterWhen on the playbook's schedule).
	EnterOn string
	// EnterWhen guards entry: with EnterOn it is checked at the event;
	// alone it is evaluated on the playbook's schedule. nil: no guard.
	EnterWhen *Condition
	// Reenter is how long after their last journey ended a customer may
	// enter again; 0 means never (the default).
	Reenter time.Duration
	// ExitWhen, when it holds before a due step or on one of the
	// customer's events, ends their journey; nil: only the steps end it.
	ExitWhen *Condition
	// Steps are in order of After, which counts from entry. A step is a
	// Rule (its id, when and actions; fires name it as their rule) with
	// After set; Once, Cooldown and the rest of a rule do not apply.
	Steps []*Rule
	// Line is where the journey: key is in the file.
	Line int
}

// Step returns the step with id, or nil.
func (j *Journey) Step(id string) *Rule {
	for _, s := range j.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// journeyYAML mirrors a playbook's journey: key.
type journeyYAML struct {
	Enter    enterYAML   `yaml:"enter" jsonschema:"required,description=When a customer enters: on an event, or when a condition holds on the schedule"`
	Reenter  string      `yaml:"reenter" jsonschema:"description=never (the default), or how long after their last journey ended a customer may enter again, like 90d"`
	ExitWhen string      `yaml:"exit_when" jsonschema:"scalar,description=Leaves the journey when true: checked before every due step and on the customer's events"`
	Steps    []yaml.Node `yaml:"steps" jsonschema:"required"`
}

type enterYAML struct {
	On   string `yaml:"on" jsonschema:"description=Event type whose arrival enters the customer (wecom_add)"`
	When string `yaml:"when" jsonschema:"scalar,description=With on: a guard checked at the event; alone: evaluated on the playbook's schedule"`
}

type stepYAML struct {
	ID       string      `yaml:"id" jsonschema:"required,description=Unique within the journey: lowercase letters, digits, - and _; fires name it as their rule"`
	After    string      `yaml:"after" jsonschema:"required,description=How long after entry the step is due, like 0m, 24h or 7d; never less than the step before"`
	When     string      `yaml:"when" jsonschema:"scalar,description=When false at the step's time the step is skipped and the journey goes on"`
	Actions  []yaml.Node `yaml:"actions" jsonschema:"description=What the step does"`
	Variants []yaml.Node `yaml:"variants" jsonschema:"description=An A/B test: each customer gets one variant's actions too"`
}

// EntryAttributes are the profile attributes that only a journey's
// exit_when and steps' when may read, by the name the condition reads
// (a function's method) to the name a playbook writes: they count from
// the customer's entry into the journey.
var EntryAttributes = map[string]string{
	"entered_days":       "entered_days",
	"orders_since_entry": "orders_since_entry",
	"spend_since_entry":  "spend_since_entry",
	"CountSinceEntry":    "count_since_entry",
}

// journey loads the journey: mapping n of a playbook.
func (l *loader) journey(pb *Playbook, root, n *yaml.Node) *Journey {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "journey: want a mapping with enter, steps and optionally reenter and exit_when; got %s", describe(n))
		return nil
	}
	var raw journeyYAML
	l.dec.decode(n, reflect.ValueOf(&raw).Elem(), "journey")
	j := &Journey{EnterOn: raw.Enter.On, Line: keyNode(root, "journey").Line}
	enter := valueNode(n, "enter")
	switch {
	case keyNode(n, "enter") == nil:
		l.errorf(n, "journey: enter is required: on: EVENT, when: EXPR, or both")
	case raw.Enter.On == "" && raw.Enter.When == "":
		l.errorf(enter, "journey: enter: give on: an event type, when: a condition on the schedule, or both")
	}
	if raw.Enter.On != "" && !slug.MatchString(raw.Enter.On) {
		l.errorf(valueNode(enter, "on"), "journey: enter: on: event type %q: use lowercase letters, digits, - and _", raw.Enter.On)
	}
	if raw.Enter.When != "" {
		j.EnterWhen = l.journeyCondition(valueNode(enter, "when"), "journey: enter: when", false)
	}
	switch {
	case raw.Enter.On == "" && raw.Enter.When != "" && pb.Schedule == "":
		l.errorf(keyNode(enter, "when"), "journey: enter: when is evaluated on the playbook's schedule, and there is none: add schedule: (like \"0 * * * *\"), or enter on: an event")
	case raw.Enter.On != "" && pb.Schedule != "":
		l.errorf(valueNode(root, "schedule"), "schedule: a journey entered on: %s has no schedule: its steps are processed as they come due", raw.Enter.On)
	}
	switch raw.Reenter {
	case "", "never":
	default:
		d, err := actions.ParseDuration(raw.Reenter)
		switch {
		case err != nil:
			l.errorf(valueNode(n, "reenter"), "journey: reenter: want never or a duration like 90d: %v", err)
		case d <= 0:
			l.errorf(valueNode(n, "reenter"), "journey: reenter: want never or a positive duration like 90d")
		default:
			j.Reenter = d
		}
	}
	if raw.ExitWhen != "" {
		j.ExitWhen = l.journeyCondition(valueNode(n, "exit_when"), "journey: exit_when", true)
	}
	if keyNode(n, "steps") == nil || len(raw.Steps) == 0 {
		l.errorf(n, "journey: steps is required and must list at least one step")
	}
	ids := map[string]int{}
	var prev *Rule
	for i := range raw.Steps {
		s := l.step(&raw.Steps[i], ids)
		if s == nil {
			continue
		}
		if prev != nil && s.After < prev.After {
			l.errorf(valueNode(&raw.Steps[i], "after"), "step %s: after %s comes before step %s's %s: list the steps in the order they come due",
				s.ID, actions.Duration(s.After), prev.ID, actions.Duration(prev.After))
		}
		prev = s
		j.Steps = append(j.Steps, s)
	}
	return j
}

// step loads one step of a journey.
func (l *loader) step(n *yaml.Node, ids map[string]int) *Rule {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "step: want a mapping with id, after and actions; got %s", describe(n))
		return nil
	}
	var raw stepYAML
	before := len(l.errs)
	what := "step"
	if keyNode(n, "id") != nil {
		what = "step " + valueNode(n, "id").Value
	}
	l.dec.decode(n, reflect.ValueOf(&raw).Elem(), what)
	s := &Rule{ID: raw.ID, Once: true, Line: n.Line}
	l.checkID(n, "step", raw.ID, ids)
	name := "step " + raw.ID
	if keyNode(n, "after") == nil {
		l.errorf(n, "%s: after is required: how long after entry the step is due, like 0m or 24h", name)
	} else if d, err := actions.ParseDuration(raw.After); err != nil {
		l.errorf(valueNode(n, "after"), "%s: after: %v", name, err)
	} else if d < 0 {
		l.errorf(valueNode(n, "after"), "%s: after: a step cannot come before entry", name)
	} else {
		s.After = d
	}
	if raw.When != "" {
		s.When = l.journeyCondition(valueNode(n, "when"), name+": when", true)
	}
	if len(raw.Actions) == 0 && len(raw.Variants) == 0 {
		l.errorf(n, "%s: actions is required and must list at least one action", name)
	}
	earlier := map[string]actions.Result{}
	s.Actions, s.Channels = l.actions(raw.Actions, name, earlier)
	s.Variants = l.variants(n, raw.Variants, name, earlier)
	if len(l.errs) > before {
		return nil
	}
	return s
}

// journeyCondition compiles a condition of a journey; afterEntry says
// whether it runs on customers in the journey, who have the entry
// attributes (exit_when, a step's when), or before they enter.
func (l *loader) journeyCondition(n *yaml.Node, what string, afterEntry bool) *Condition {
	c := l.condition(n, what)
	if c != nil && !afterEntry {
		l.refuseEntryAttributes(n, c, what, "enter.when runs before the customer enters: the attributes since entry are known in exit_when and the steps' when")
	}
	return c
}

// refuseEntryAttributes reports each entry attribute c reads, at its
// place in the expression, with why it is unknown there.
func (l *loader) refuseEntryAttributes(n *yaml.Node, c *Condition, what, why string) {
	for _, read := range c.entryReads() {
		line, col := l.exprPosition(n, read.at)
		l.errs = append(l.errs, Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf("%s: %s counts from a customer's entry into a journey; %s", what, read.name, why)})
	}
}

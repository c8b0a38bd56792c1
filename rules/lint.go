package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/koihq/koi/actions"
)

// LintOptions give Lint what it cannot know from the file alone.
type LintOptions struct {
	// Unreachable, when set, returns for a channel name the customer field
	// it addresses customers by when no customer in the data has that
	// field set ("wecom_id"), and "" otherwise.
	Unreachable func(channel string) string
	// Tasks, when set, says how many tasks (WeCom confirmations) per guide
	// a run of the playbook now would create for rule r, for the warning
	// about a personalised message; "" when it cannot tell.
	Tasks func(pb *Playbook, r *Rule) string
}

// allActions returns the rule's actions and its variants'.
func allActions(r *Rule) []RuleAction {
	out := slices.Clip(r.Actions)
	for _, v := range r.Variants {
		out = append(out, v.Actions...)
	}
	return out
}

// Lint returns warnings about a playbook that loads but will not do what
// its author most likely meant. They are Errors by position; koi check
// prints them as warnings and fails on them only with --strict.
func Lint(pb *Playbook, opts LintOptions) []Error {
	var out []Error
	warn := func(line int, format string, args ...any) {
		out = append(out, Error{File: pb.File, Line: line, Col: 5, Msg: fmt.Sprintf(format, args...)})
	}
	period := schedulePeriod(pb)
	for j, r := range pb.Rules {
		for _, earlier := range pb.Rules[:j] {
			if earlier.Stop && earlier.On == r.On && implies(r.When.Source, earlier.When.Source) {
				warn(r.Line, "rule %s can never fire: the earlier rule %s has stop: true and matches every customer %s matches", r.ID, earlier.ID, r.ID)
				break
			}
		}
		channels := allChannels(r)
		if len(channels) > 0 && r.On == "" && !r.Once && period > 0 && r.Cooldown <= period {
			warn(r.Line, "rule %s messages, and its cooldown %s is no longer than the schedule's period (%s): every run that matches messages the customer again; use a longer cooldown or once: true",
				r.ID, actions.Duration(r.Cooldown), actions.Duration(period))
		}
		for _, ra := range allActions(r) {
			if w, ok := ra.Action.(actions.Warner); ok {
				for _, msg := range w.Warnings() {
					warn(r.Line, "rule %s: %s", r.ID, msg)
					if opts.Tasks != nil {
						if tasks := opts.Tasks(pb, r); tasks != "" {
							out[len(out)-1].Msg += "; " + tasks
						}
					}
				}
			}
		}
		if opts.Unreachable != nil {
			for _, ch := range channels {
				if field := opts.Unreachable(ch); field != "" {
					warn(r.Line, "rule %s messages on %s, which reaches customers by %s, but no customer in the data has one: nobody can be sent to", r.ID, ch, field)
				}
			}
		}
	}
	if pb.Journey != nil {
		for _, st := range pb.Journey.Steps {
			for _, ra := range allActions(st) {
				if w, ok := ra.Action.(actions.Warner); ok {
					for _, msg := range w.Warnings() {
						warn(st.Line, "step %s: %s", st.ID, msg)
					}
				}
			}
			if opts.Unreachable != nil {
				for _, ch := range allChannels(st) {
					if field := opts.Unreachable(ch); field != "" {
						warn(st.Line, "step %s messages on %s, which reaches customers by %s, but no customer in the data has one: nobody can be sent to", st.ID, ch, field)
					}
				}
			}
		}
	}
	if !pb.HoldoutSet && sendsCoupons(pb) {
		warn(1, "playbook %s gives coupons without a holdout: its uplift cannot be measured; add holdout: 10%% (or holdout: 0%% to say it is deliberate)", pb.Name)
		out[len(out)-1].Col = 1
	}
	ErrorList(out).sort()
	return out
}

// LintGroups warns about a benefit group named by a single rule among pbs:
// a group of one shares nothing, so it is most likely a misspelling of
// another rule's group.
func LintGroups(pbs []*Playbook) []Error {
	type use struct {
		pb *Playbook
		r  *Rule
	}
	byGroup := map[string][]use{}
	var names []string
	for _, pb := range pbs {
		for _, r := range pb.Rules {
			if r.Group == "" {
				continue
			}
			if _, ok := byGroup[r.Group]; !ok {
				names = append(names, r.Group)
			}
			byGroup[r.Group] = append(byGroup[r.Group], use{pb, r})
		}
	}
	var out []Error
	for _, g := range names {
		if us := byGroup[g]; len(us) == 1 {
			msg := fmt.Sprintf("rule %s is the only rule of benefit group %s among the playbooks checked: a group shares cooldown and once between its rules, so check the name", us[0].r.ID, g)
			if similar := Suggest(g, names); len(similar) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(similar, ", "))
			}
			out = append(out, Error{File: us[0].pb.File, Line: us[0].r.Line, Col: 5, Msg: msg})
		}
	}
	ErrorList(out).sort()
	return out
}

func allChannels(r *Rule) []string {
	chans := slices.Clone(r.Channels)
	for _, v := range r.Variants {
		chans = append(chans, v.Channels...)
	}
	slices.Sort(chans)
	return slices.Compact(chans)
}

func sendsCoupons(pb *Playbook) bool {
	rs := pb.Rules
	if pb.Journey != nil {
		rs = pb.Journey.Steps
	}
	for _, r := range rs {
		acts := slices.Clone(r.Actions)
		for _, v := range r.Variants {
			acts = append(acts, v.Actions...)
		}
		for _, a := range acts {
			if a.Kind == "coupon" {
				return true
			}
		}
	}
	return false
}

// schedulePeriod is the shortest gap between two runs of the schedule,
// over a year of runs from a fixed date; 0 when the playbook has none.
func schedulePeriod(pb *Playbook) time.Duration {
	if pb.Cron == nil {
		return 0
	}
	prev := pb.Cron.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, pb.Location))
	var shortest time.Duration
	for range 400 {
		next := pb.Cron.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); shortest == 0 || gap < shortest {
			shortest = gap
		}
		prev = next
	}
	return shortest
}

// implies reports whether condition b being true guarantees a being true,
// as far as a syntactic check can tell: a false "no" is fine, a false
// "yes" is not.
func implies(b, a string) bool {
	bt, err1 := parser.Parse(b)
	at, err2 := parser.Parse(a)
	if err1 != nil || err2 != nil {
		return false
	}
	return nodeImplies(bt.Node, at.Node)
}

func nodeImplies(b, a ast.Node) bool {
	if lit, ok := a.(*ast.BoolNode); ok && lit.Value {
		return true
	}
	if n, ok := a.(*ast.BinaryNode); ok {
		switch connective(n.Operator) {
		case "and":
			return nodeImplies(b, n.Left) && nodeImplies(b, n.Right)
		case "or":
			return nodeImplies(b, n.Left) || nodeImplies(b, n.Right)
		}
	}
	if n, ok := b.(*ast.BinaryNode); ok {
		switch connective(n.Operator) {
		case "and":
			return nodeImplies(n.Left, a) || nodeImplies(n.Right, a)
		case "or":
			return nodeImplies(n.Left, a) && nodeImplies(n.Right, a)
		}
	}
	return atomImplies(b, a)
}

// atomImplies compares two conditions without && or ||: equal ones, and
// comparisons of one attribute with numbers (x > 60 implies x > 45) or
// with a string and a list (x == "gold" implies x in ["gold", "vip"]).
func atomImplies(b, a ast.Node) bool {
	if b.String() == a.String() {
		return true
	}
	bn, ok1 := b.(*ast.BinaryNode)
	an, ok2 := a.(*ast.BinaryNode)
	if !ok1 || !ok2 || bn.Left.String() != an.Left.String() {
		return false
	}
	if bn.Operator == "==" && an.Operator == "in" {
		s, ok := bn.Right.(*ast.StringNode)
		list, ok2 := an.Right.(*ast.ArrayNode)
		if ok && ok2 {
			for _, e := range list.Nodes {
				if es, ok := e.(*ast.StringNode); ok && es.Value == s.Value {
					return true
				}
			}
		}
		return false
	}
	vb, ok1 := number(bn.Right)
	va, ok2 := number(an.Right)
	if !ok1 || !ok2 {
		return false
	}
	switch an.Operator {
	case ">":
		return (bn.Operator == "==" || bn.Operator == ">=") && vb > va || bn.Operator == ">" && vb >= va
	case ">=":
		return (bn.Operator == "==" || bn.Operator == ">" || bn.Operator == ">=") && vb >= va
	case "<":
		return (bn.Operator == "==" || bn.Operator == "<=") && vb < va || bn.Operator == "<" && vb <= va
	case "<=":
		return (bn.Operator == "==" || bn.Operator == "<" || bn.Operator == "<=") && vb <= va
	case "==":
		return bn.Operator == "==" && vb == va
	case "!=":
		return bn.Operator == "==" && vb != va
	}
	return false
}

func number(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.UnaryNode:
		if n.Operator == "-" {
			v, ok := number(n.Node)
			return -v, ok
		}
	}
	return 0, false
}

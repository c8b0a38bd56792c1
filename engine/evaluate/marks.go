package evaluate

import (
	"maps"
	"slices"
	"time"
)

// FireRef names a rule's fire state for one customer, or a benefit
// group's (Rule then holds the group's name).
type FireRef struct {
	Rule       string
	CustomerID string
}

// FireMark is the latest fire of a rule, or of a benefit group, for a
// customer.
type FireMark struct {
	// Seq is the fire's number: the rule's for a rule's mark, the group's
	// (Fire.GroupSeq) for a group's.
	Seq int
	At  time.Time
	// By names the rule that fired, as playbook/rule, in a group's mark:
	// what explain, previews and runs name as the cause of a suppression.
	By string
}

// GroupRules lists, for each benefit group, the rules in it as
// playbook/rule pairs, over every loaded playbook.
type GroupRules map[string][]RuleRef

// Names returns the groups, sorted.
func (g GroupRules) Names() []string { return slices.Sorted(maps.Keys(g)) }

// RuleRef names a rule of a playbook.
type RuleRef struct{ Playbook, Rule string }

// String is playbook/rule.
func (r RuleRef) String() string { return r.Playbook + "/" + r.Rule }

// Marks are the fire history cooldown and once are decided by, for one
// evaluation of one playbook: a view of the in-memory History (by pond
// position), or maps by customer id (a few customers' history read from
// the store, a held run's), and in either case the group fires noted on
// top (NoteGroupFire: a dry run's claims).
type Marks struct {
	// Rules holds the latest fire of each (rule, customer) of one playbook.
	Rules map[FireRef]FireMark
	// Groups holds the latest fire of each (group, customer) of the
	// benefit groups the playbook's rules name, by any rule of the group
	// in any playbook.
	Groups map[FireRef]FireMark

	history    *historyView
	playbook   string
	groupRules GroupRules
}

// Rule returns the latest fire of rule for the customer at pond position
// pos, whose id is customerID.
func (m *Marks) Rule(rule string, pos int, customerID string) FireMark {
	if m == nil {
		return FireMark{}
	}
	if m.history != nil {
		return m.history.rule(rule, pos)
	}
	return m.Rules[FireRef{Rule: rule, CustomerID: customerID}]
}

// Group returns the latest fire of a benefit group for the customer at
// pond position pos, whose id is customerID; the zero mark for no group.
func (m *Marks) Group(group string, pos int, customerID string) FireMark {
	if m == nil || group == "" {
		return FireMark{}
	}
	noted := m.Groups[FireRef{Rule: group, CustomerID: customerID}]
	if m.history == nil {
		return noted
	}
	out := m.history.group(m.playbook, group, pos)
	if noted.At.After(out.At) {
		out.At, out.By = noted.At, noted.By
	}
	out.Seq = max(out.Seq, noted.Seq)
	return out
}

// LayOver adds the claims of the groups named to m.
func (m *Marks) LayOver(claims *Marks, groups []string) {
	if len(claims.Groups) == 0 || len(groups) == 0 {
		return
	}
	for ref, c := range claims.Groups {
		if slices.Contains(groups, ref.Rule) {
			m.NoteGroupFire(ref.Rule, ref.CustomerID, c.At, c.Seq, c.By)
		}
	}
}

// NoteGroupFire adds a fire of a benefit group for a customer to its mark:
// the latest fire names the mark's time and rule, the highest group number
// its Seq (a fire recorded before its rule joined the group has none: 0).
// Stores build group marks with it, and a run notes its own group fires
// with it for the playbooks after (a dry run's exist nowhere else).
func (m *Marks) NoteGroupFire(group, customerID string, at time.Time, gseq int, by string) {
	if m.Groups == nil {
		m.Groups = map[FireRef]FireMark{}
	}
	ref := FireRef{Rule: group, CustomerID: customerID}
	cur := m.Groups[ref]
	if at.After(cur.At) {
		cur.At, cur.By = at, by
	}
	cur.Seq = max(cur.Seq, gseq)
	m.Groups[ref] = cur
}

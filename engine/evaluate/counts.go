package evaluate

import (
	"sort"
	"strconv"
)

// Suppression reasons.
const (
	ReasonCooldown   = "cooldown"
	ReasonOnce       = "once"
	ReasonHoldout    = "holdout"
	ReasonBlastGuard = "blast_guard"
	// ReasonGone: the customer was merged into another, or deleted, after
	// the run read the pond and before its fire was written.
	ReasonGone = "gone"
	// ReasonMerged: the customer was merged with another after the run
	// read their history; the next run decides on the merged one.
	ReasonMerged = "merged"
)

// RuleCounts are the outcomes of one rule in a run.
type RuleCounts struct {
	Rule    string `json:"rule"`
	Matched int    `json:"matched"`
	Fired   int    `json:"fired"`
	// Suppressed counts matches that did not fire, by reason.
	Suppressed map[string]int `json:"suppressed"`
	// Deferred counts fires whose messages wait, by reason (quiet_hours,
	// or cap for defer_on_cap rules): they are fired, and counted in
	// Fired too.
	Deferred map[string]int `json:"deferred,omitempty"`
	// ByGroup counts the matches suppressed (by cooldown or once) because
	// another rule of the rule's benefit group fired, by that rule
	// (playbook/rule); they are counted in Suppressed too.
	ByGroup map[string]int `json:"by_group,omitempty"`
	// Late counts the steps of a journey taken late: more than a pass's
	// interval after they came due (koi was not running), fired, held out
	// or skipped by their when alike.
	Late int `json:"late,omitempty"`
	// Errors counts customers whose condition or actions failed.
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

func (rc *RuleCounts) Suppress(reason string, n int) {
	if n == 0 {
		return
	}
	if rc.Suppressed == nil {
		rc.Suppressed = map[string]int{}
	}
	rc.Suppressed[reason] += n
}

func (rc *RuleCounts) Defer(reason string, n int) {
	if n == 0 {
		return
	}
	if rc.Deferred == nil {
		rc.Deferred = map[string]int{}
	}
	rc.Deferred[reason] += n
}

// Add accumulates o into rc.
func (rc *RuleCounts) Add(o *RuleCounts) {
	rc.Matched += o.Matched
	rc.Fired += o.Fired
	rc.Errors += o.Errors
	rc.Late += o.Late
	if rc.FirstError == "" {
		rc.FirstError = o.FirstError
	}
	for r, k := range o.Suppressed {
		rc.Suppress(r, k)
	}
	for r, k := range o.Deferred {
		rc.Defer(r, k)
	}
	for r, k := range o.ByGroup {
		rc.CountByGroup(r, k)
	}
}

// Sub takes o, a part of what rc counted, out of rc again. Errors are
// counted but FirstError stays: callers only take out parts without errors.
func (rc *RuleCounts) Sub(o *RuleCounts) {
	rc.Matched -= o.Matched
	rc.Fired -= o.Fired
	rc.Errors -= o.Errors
	for r, k := range o.Suppressed {
		if rc.Suppressed[r] -= k; rc.Suppressed[r] == 0 {
			delete(rc.Suppressed, r)
		}
	}
	for r, k := range o.Deferred {
		if rc.Deferred[r] -= k; rc.Deferred[r] == 0 {
			delete(rc.Deferred, r)
		}
	}
	for r, k := range o.ByGroup {
		if rc.ByGroup[r] -= k; rc.ByGroup[r] == 0 {
			delete(rc.ByGroup, r)
		}
	}
}

func (rc *RuleCounts) CountByGroup(rule string, n int) {
	if n == 0 {
		return
	}
	if rc.ByGroup == nil {
		rc.ByGroup = map[string]int{}
	}
	rc.ByGroup[rule] += n
}

func (rc *RuleCounts) Fail(msg string) {
	rc.Errors++
	if rc.FirstError == "" {
		rc.FirstError = msg
	}
}

// GroupCauses lists ByGroup as "playbook/rule N", by rule.
func (rc *RuleCounts) GroupCauses() []string {
	out := make([]string, 0, len(rc.ByGroup))
	for by, n := range rc.ByGroup {
		out = append(out, by+" "+itoa(n))
	}
	sort.Strings(out)
	return out
}

// Reasons lists a rule's suppression reasons in a stable order.
func (rc *RuleCounts) Reasons() []string {
	rs := make([]string, 0, len(rc.Suppressed))
	for r := range rc.Suppressed {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	return rs
}

func itoa(n int) string { return strconv.Itoa(n) }

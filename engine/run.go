package engine

import (
	"sort"
	"strconv"
	"time"
)

// Run statuses.
const (
	RunRunning     = "running"
	RunDone        = "done"
	RunHeld        = "held"
	RunFailed      = "failed"
	RunInterrupted = "interrupted"
	// RunRejected is a held run someone rejected: nothing of it fired.
	RunRejected = "rejected"
	// RunExpired is a held run nobody decided about in time.
	RunExpired = "expired"
)

// Suppression reasons (DESIGN §4).
const (
	ReasonCooldown   = "cooldown"
	ReasonOnce       = "once"
	ReasonHoldout    = "holdout"
	ReasonBlastGuard = "blast_guard"
)

// Run is one evaluation of one playbook.
type Run struct {
	ID       int64  `json:"id,omitempty"`
	Playbook string `json:"playbook"`
	Hash     string `json:"hash"`
	// File is the playbook file the run evaluated, as an absolute path:
	// where an approval finds the version it held. It stays out of the
	// API's answers: a path on the server is not a marketer's business.
	File string `json:"-"`
	// At is the moment evaluated; StartedAt and EndedAt are wall time.
	At        time.Time `json:"at"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	Status    string    `json:"status"`
	DryRun    bool      `json:"dry_run"`
	// Trigger is what started the run (TriggerManual, TriggerSchedule,
	// TriggerLate).
	Trigger string `json:"trigger"`
	// Audience is the number of customers the audience filter admitted.
	Audience int `json:"audience"`
	Matched  int `json:"matched"`
	Fired    int `json:"fired"`
	// Limit is the blast guard in force for this run.
	Limit int           `json:"limit"`
	Rules []*RuleCounts `json:"rules"`
	Error string        `json:"error,omitempty"`
	// FirstFireID and LastFireID bound the ids of the run's fires (0 when
	// it has none); other runs' fires may lie between them.
	FirstFireID int64 `json:"first_fire_id,omitempty"`
	LastFireID  int64 `json:"last_fire_id,omitempty"`
	// ExpiresAt is when a held run lapses without a decision.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// DecidedBy and DecidedAt record who approved or rejected a held run.
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// Sample lists some of a held run's would-be fires, for deciding.
	Sample []HeldFire `json:"sample,omitempty"`
	// Outcomes, for an engine with Config.Trace, is what each rule did
	// for each customer it matched.
	Outcomes []CustomerOutcome `json:"outcomes,omitempty"`
}

// HeldFire is one fire (or holdout) a held run would write when approved.
type HeldFire struct {
	Rule       string `json:"rule"`
	CustomerID string `json:"customer_id"`
	Seq        int    `json:"seq"`
	// GroupSeq is the fire's number in its rule's benefit group (0 when
	// the rule has none).
	GroupSeq int    `json:"group_seq,omitempty"`
	Holdout  bool   `json:"holdout,omitempty"`
	Variant  string `json:"variant,omitempty"`
	// DeliverAt, when set, is when the fire's messages are due (quiet
	// hours, a deferred cap).
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
}

// noteFire widens the run's fire id range to include id.
func (r *Run) noteFire(id int64) {
	if r.FirstFireID == 0 || id < r.FirstFireID {
		r.FirstFireID = id
	}
	r.LastFireID = max(r.LastFireID, id)
}

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
	// Errors counts customers whose condition or actions failed.
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

func (rc *RuleCounts) suppress(reason string, n int) {
	if n == 0 {
		return
	}
	if rc.Suppressed == nil {
		rc.Suppressed = map[string]int{}
	}
	rc.Suppressed[reason] += n
}

func (rc *RuleCounts) deferral(reason string, n int) {
	if n == 0 {
		return
	}
	if rc.Deferred == nil {
		rc.Deferred = map[string]int{}
	}
	rc.Deferred[reason] += n
}

// add accumulates o into rc.
func (rc *RuleCounts) add(o *RuleCounts) {
	rc.Matched += o.Matched
	rc.Fired += o.Fired
	rc.Errors += o.Errors
	if rc.FirstError == "" {
		rc.FirstError = o.FirstError
	}
	for r, k := range o.Suppressed {
		rc.suppress(r, k)
	}
	for r, k := range o.Deferred {
		rc.deferral(r, k)
	}
	for r, k := range o.ByGroup {
		rc.byGroup(r, k)
	}
}

// sub takes o, a part of what rc counted, out of rc again. Errors are
// counted but FirstError stays: callers only take out parts without errors.
func (rc *RuleCounts) sub(o *RuleCounts) {
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

func (rc *RuleCounts) byGroup(rule string, n int) {
	if n == 0 {
		return
	}
	if rc.ByGroup == nil {
		rc.ByGroup = map[string]int{}
	}
	rc.ByGroup[rule] += n
}

func (rc *RuleCounts) fail(msg string) {
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

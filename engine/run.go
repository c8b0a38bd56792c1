package engine

import (
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
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

// Run is one evaluation of one playbook.
type Run struct {
	// mergeMark is the newest merge (domain.Merge.ID) when the run read
	// its customers' history; marked says it was read. A customer merged
	// with another after it has a history the run did not decide on:
	// their decisions are dropped as gone (see dropGone).
	mergeMark int64
	marked    bool

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
	Limit int                    `json:"limit"`
	Rules []*evaluate.RuleCounts `json:"rules"`
	Error string                 `json:"error,omitempty"`
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
	Sample []domain.HeldFire `json:"sample,omitempty"`
	// Outcomes, for an engine with Config.Trace, is what each rule did
	// for each customer it matched.
	Outcomes []evaluate.CustomerOutcome `json:"outcomes,omitempty"`
}

// noteFire widens the run's fire id range to include id.
func (r *Run) noteFire(id int64) {
	if r.FirstFireID == 0 || id < r.FirstFireID {
		r.FirstFireID = id
	}
	r.LastFireID = max(r.LastFireID, id)
}

package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/koihq/koi/actions"
)

// JobState is where a job of the outbox stands.
type JobState string

// Job states. Only pending jobs are picked up; the others are final until
// an operator retries a job.
const (
	JobPending   JobState = "pending"
	JobDone      JobState = "done"
	JobDead      JobState = "dead"
	JobCancelled JobState = "cancelled"
	// JobSkipped is a job not sent for the customer's consent: they opted
	// out of its channel.
	JobSkipped JobState = "skipped"
)

// Job is remote work in the outbox: a message or a request an action
// enqueued with its fire, delivered at least once by the dispatcher.
type Job struct {
	ID int64 `json:"id"`
	// Key is the idempotency key: the fire's key and the action's index.
	Key         string          `json:"key"`
	Kind        string          `json:"kind"`
	Channel     string          `json:"channel,omitempty"`
	FireID      int64           `json:"fire_id"`
	Playbook    string          `json:"playbook"`
	Rule        string          `json:"rule"`
	CustomerID  string          `json:"customer_id"`
	Payload     json.RawMessage `json:"payload"`
	State       JobState        `json:"state"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	// RunAt is when a pending job is due.
	RunAt     time.Time `json:"run_at"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	LastError string    `json:"last_error,omitempty"`
}

// JobOutcome is the result of one delivery attempt, to record.
type JobOutcome struct {
	ID    int64
	State JobState
	// Attempts is the job's attempt count including this one.
	Attempts int
	// RunAt is when a job left pending is due again.
	RunAt     time.Time
	LastError string
}

// JobFilter selects jobs to list, newest first.
type JobFilter struct {
	State      JobState
	Kind       string
	Playbook   string
	CustomerID string
	FireID     int64
	Limit      int
	// Before pages: only jobs with a smaller id.
	Before int64
}

// JobStore is the outbox as the dispatcher and operators use it.
type JobStore interface {
	// DueJobs returns up to limit pending jobs due at now, earliest first.
	DueJobs(ctx context.Context, now time.Time, limit int) ([]*Job, error)
	// FinishJobs records the outcomes of delivery attempts in one
	// transaction, at now. An outcome for a job that is no longer pending
	// (an operator cancelled it meanwhile) is dropped.
	FinishJobs(ctx context.Context, now time.Time, outcomes []JobOutcome) error
	// Contacts reads how to reach customers; a deleted customer is missing.
	Contacts(ctx context.Context, ids []string) (map[string]actions.Contact, error)
	// ListJobs lists jobs, newest first.
	ListJobs(ctx context.Context, f JobFilter) ([]*Job, error)
	// GetJob reads one job; an Error with ENotFound when there is none.
	GetJob(ctx context.Context, id int64) (*Job, error)
	// RetryJob makes a job that is not pending pending again, due now, with
	// its attempts reset; EConflict when it is pending already.
	RetryJob(ctx context.Context, id int64, now time.Time) (*Job, error)
	// CancelJob cancels a pending job; EConflict when it is not pending.
	CancelJob(ctx context.Context, id int64, now time.Time) (*Job, error)
	// PurgeJobs deletes finished jobs (done, skipped, cancelled) last
	// updated before t, and returns how many. Dead jobs stay until an
	// operator retries or cancels them.
	PurgeJobs(ctx context.Context, before time.Time) (int, error)
	// LockDispatch takes the dispatch lock, so that of the processes
	// sharing a database only one delivers. ok is false when another holds
	// it; release gives it back.
	LockDispatch() (release func(), ok bool, err error)
}

// NewJob is a job an action enqueued, as the fire's transaction writes it.
type NewJob struct {
	Key         string
	Kind        string
	Channel     string
	FireID      int64
	Playbook    string
	Rule        string
	CustomerID  string
	Payload     []byte
	MaxAttempts int
	// Delay is how long after the fire the job is due: quiet hours or a
	// deferred cap hold a message back; other jobs are due at once.
	Delay time.Duration
}

package domain

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/koihq/koi/actions"
)

// JobState is where a job of the outbox stands.
type JobState string

// Job states. Only pending jobs are picked up; task_created jobs are
// tracked (polled for their outcome); the others are final until an
// operator retries a job.
const (
	JobPending   JobState = "pending"
	JobDone      JobState = "done"
	JobDead      JobState = "dead"
	JobCancelled JobState = "cancelled"
	// JobSkipped is a job not sent for the customer's consent: they opted
	// out of its channel.
	JobSkipped JobState = "skipped"

	// The states of a message its channel accepted without sending it
	// yet: a WeCom task waits for the guide (see actions.StateTaskCreated).
	// Only JobDone and JobSent are contacts that reached the customer.
	JobTaskCreated   JobState = actions.StateTaskCreated
	JobSent          JobState = actions.StateSent
	JobNotFriend     JobState = actions.StateNotFriend
	JobReceivedOther JobState = actions.StateReceivedOther
	JobUnsent        JobState = actions.StateUnsent
)

// JobStates are every job state, in the order a job passes them.
var JobStates = []JobState{JobPending, JobTaskCreated, JobDone, JobSent, JobNotFriend, JobReceivedOther, JobUnsent, JobSkipped, JobCancelled, JobDead}

// JobStateNames lists the job states for messages: "pending, task_created, …".
func JobStateNames() string {
	names := make([]string, len(JobStates))
	for i, s := range JobStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// Reached reports whether a job in state s reached its customer.
func (s JobState) Reached() bool { return s == JobDone || s == JobSent }

// Final reports whether a job in state s is finished: neither waiting to
// be delivered nor tracked.
func (s JobState) Final() bool { return s != JobPending && s != JobTaskCreated }

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
	// Batch groups identical messages delivered in one call ('' for none).
	Batch string `json:"batch,omitempty"`
	// Receipt is the channel's reference for a delivery it tracks: the
	// WeCom task's msgid and sender.
	Receipt string `json:"receipt,omitempty"`
	// TrackedAt is when the channel accepted the job (task_created).
	TrackedAt time.Time `json:"tracked_at,omitzero"`
	// Reminders counts the reminders sent to the guide, the last at
	// RemindedAt.
	Reminders  int       `json:"reminders,omitempty"`
	RemindedAt time.Time `json:"reminded_at,omitzero"`
	// Cancel says why a tracked job is to be stopped, until the channel
	// has stopped it.
	Cancel string `json:"cancel,omitempty"`
	// SentAt is when a tracked message reached the customer.
	SentAt time.Time `json:"sent_at,omitzero"`
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
	// Receipt, for a job left in task_created, is the channel's reference.
	Receipt string
}

// TrackOutcome is what became of a tracked job, to record.
type TrackOutcome struct {
	ID int64
	// State is the job's state now: JobTaskCreated while it waits, a final
	// state, or JobPending to hand it to the channel again.
	State  JobState
	SentAt time.Time
	// Reminded counts a reminder sent at the time recorded.
	Reminded bool
	Note     string
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
	Batch       string
	MaxAttempts int
	// Delay is how long after the fire the job is due: quiet hours or a
	// deferred cap hold a message back; other jobs are due at once.
	Delay time.Duration
}

package engine

import (
	"context"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// JobStore is the outbox as the dispatcher and operators use it.
type JobStore interface {
	// DueJobs returns up to limit pending jobs due at now, earliest first.
	DueJobs(ctx context.Context, now time.Time, limit int) ([]*domain.Job, error)
	// FinishJobs records the outcomes of delivery attempts in one
	// transaction, at now. An outcome for a job that is no longer pending
	// (an operator cancelled it meanwhile) is dropped.
	FinishJobs(ctx context.Context, now time.Time, outcomes []domain.JobOutcome) error
	// Contacts reads how to reach customers; a deleted customer is missing.
	Contacts(ctx context.Context, ids []string) (map[string]actions.Contact, error)
	// CustomerTags reads customers' tags now.
	CustomerTags(ctx context.Context, ids []string) (map[string][]string, error)
	// ListJobs lists jobs, newest first.
	ListJobs(ctx context.Context, f domain.JobFilter) ([]*domain.Job, error)
	// CountJobs counts the jobs in each state.
	CountJobs(ctx context.Context) (map[domain.JobState]int, error)
	// GetJob reads one job; an Error with ENotFound when there is none.
	GetJob(ctx context.Context, id int64) (*domain.Job, error)
	// RetryJob makes a finished job pending again, due now, with its
	// attempts reset; EConflict when it is pending or tracked (retrying a
	// WeCom task the guide may still send would send twice).
	RetryJob(ctx context.Context, id int64, now time.Time) (*domain.Job, error)
	// CancelJob cancels a pending job. A tracked one (task_created) is
	// marked to be stopped: the dispatcher asks its channel to, and
	// records it unsent. EConflict when it is neither.
	CancelJob(ctx context.Context, id int64, now time.Time) (*domain.Job, error)
	// PurgeJobs deletes finished jobs (every final state but dead) last
	// updated before t, and returns how many. Dead jobs stay until an
	// operator retries or cancels them.
	PurgeJobs(ctx context.Context, before time.Time) (int, error)
	// DueBatch returns up to limit pending jobs of batch key batch due at
	// now, earliest first: the rest of a batch one of whose jobs the
	// dispatcher claimed.
	DueBatch(ctx context.Context, batch string, now time.Time, limit int) ([]*domain.Job, error)
	// TrackedJobs returns up to limit jobs on channel in task_created,
	// those tracked longest first.
	TrackedJobs(ctx context.Context, channel string, limit int) ([]*domain.Job, error)
	// FinishTracked records what became of tracked jobs in one
	// transaction, at now. An outcome for a job no longer in task_created
	// is dropped.
	FinishTracked(ctx context.Context, now time.Time, outcomes []domain.TrackOutcome) error
	// LockDispatch takes the dispatch lock, so that of the processes
	// sharing a database only one delivers. ok is false when another holds
	// it; release gives it back.
	LockDispatch() (release func(), ok bool, err error)
}

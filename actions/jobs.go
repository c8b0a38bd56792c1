package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Job is remote work an action enqueues: a message to send, a request to
// make. It is stored in the outbox with the fire and delivered later by the
// Worker registered for its Kind, with retries.
type Job struct {
	// Kind names the Worker that delivers the job.
	Kind string
	// Channel is the customer-facing channel the job sends on, if any. A
	// customer who opted out of it is never sent to: the job is skipped
	// with reason consent. Empty for integrations that message no one.
	Channel string
	// NotContact marks a job on a channel that is no message to the
	// customer (the webhook action's post to the brand's CRM): consent
	// and the channel's rate apply to it, but it is not contact history,
	// so caps, quiet hours, contacts_7d and last_contact_days leave it be.
	NotContact bool
	// Batch, when set, lets jobs of the same batch key that are due
	// together go to their worker in one call (a BatchWorker): identical
	// messages on a channel that sends one task to many customers.
	Batch string
	// Payload is what the worker needs, encoded as JSON. It must be
	// self-contained: the playbook that enqueued it may have changed by the
	// time it is delivered.
	Payload any
}

// Contact is how to reach a customer, read when a job is delivered, so a
// changed phone number or a new opt-out counts.
type Contact struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Email      string `json:"email,omitempty"`
	// WeComID is the customer's WeCom external user id (external_userid).
	WeComID string `json:"wecom_id,omitempty"`
	// Guide is the id of the customer's sales guide (导购), if any.
	Guide string `json:"guide,omitempty"`
	// OptOut lists the channels the customer opted out of.
	OptOut []string `json:"opt_out,omitempty"`
	// Tags are the customer's tags now: read for the jobs that need
	// them (TagSyncKind), empty for the others.
	Tags []string `json:"tags,omitempty"`
}

// Delivery is one attempt at a job.
type Delivery struct {
	JobID   int64
	Kind    string
	Channel string
	// Key is the job's idempotency key: the same on every attempt. Send it
	// to the receiver so that it can drop a repeat.
	Key string
	// Attempt counts from 1.
	Attempt    int
	FireID     int64
	Playbook   string
	Rule       string
	CustomerID string
	// Payload is the job's payload as enqueued.
	Payload json.RawMessage
	// Contact is the customer's contact now.
	Contact Contact
	// Receipt is set by the worker when the channel only handed the job
	// over (Message.Receipt): the job then waits, tracked, for the outcome.
	Receipt string
}

// Worker delivers jobs of one kind. Deliver is one attempt; it must honour
// ctx's deadline. A nil error means delivered. Return Permanent(err) when a
// retry cannot help (a rejected recipient, a malformed request), and
// RetryAfter when the receiver said when to come back; any other error is
// retried with backoff until the job's attempts run out.
type Worker interface {
	Deliver(ctx context.Context, d *Delivery) error
}

// BatchWorker is a Worker that delivers several jobs in one call. The
// dispatcher hands it the due jobs that share a batch key (Job.Batch), up
// to its batch limit, and records each job's outcome from the error at
// the same index: nil, Permanent, RetryAfter or Throttled, as for Deliver.
type BatchWorker interface {
	Worker
	DeliverBatch(ctx context.Context, ds []*Delivery) []error
}

// WorkerFunc adapts a function to Worker.
type WorkerFunc func(ctx context.Context, d *Delivery) error

// Deliver calls f.
func (f WorkerFunc) Deliver(ctx context.Context, d *Delivery) error { return f(ctx, d) }

// DeliveryError tells the dispatcher what to do about a failed attempt.
type DeliveryError struct {
	Err error
	// Permanent means give up now: the job is dead-lettered.
	Permanent bool
	// After, when positive, is the earliest the next attempt may be made.
	After time.Duration
	// Throttled means the receiver refused for its rate limit: the attempt
	// does not count against the job's attempts, and the dispatcher pauses
	// every job of the channel (or kind) for After.
	Throttled bool
}

func (e *DeliveryError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &DeliveryError{Err: err, Permanent: true} }

// RetryAfter marks err as worth retrying, not before d.
func RetryAfter(d time.Duration, err error) error { return &DeliveryError{Err: err, After: d} }

// Throttled marks err as the receiver's rate limit: try again after d,
// this job and every other of its channel, without using up an attempt.
func Throttled(d time.Duration, err error) error {
	return &DeliveryError{Err: err, After: d, Throttled: true}
}

// IsThrottled reports whether err is a rate limit (Throttled).
func IsThrottled(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Throttled
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err says to give up.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// RetryDelay returns the delay err asks for, and 0 when it asks none.
func RetryDelay(err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.After
	}
	return 0
}

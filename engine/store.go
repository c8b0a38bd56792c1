package engine

import (
	"context"
	"time"

	"github.com/koihq/koi/actions"
)

// Store is koi's durable state. engine/sqlite implements it.
type Store interface {
	// LoadPond reads every customer, event and issued coupon in bulk.
	LoadPond(ctx context.Context) (*Pond, error)
	// FireMarks returns the latest fire of every (rule, customer) of a playbook.
	FireMarks(ctx context.Context, playbook string) (map[FireRef]FireMark, error)
	// StartRun records a run as running and sets its ID.
	StartRun(ctx context.Context, r *Run) error
	// FinishRun records a run's outcome and counts.
	FinishRun(ctx context.Context, r *Run) error
	// WriteFires runs fn in one transaction whose clock is now.
	WriteFires(ctx context.Context, now time.Time, fn func(tx FireTx) error) error
}

// FireTx is a transaction that records fires and their local effects.
type FireTx interface {
	actions.Effects
	// Fire inserts f and, only if it is new, runs do, all inside a savepoint:
	// when do fails, the fire and every effect of do are rolled back and the
	// rest of the transaction stays. inserted is false when a fire with the
	// same (playbook, rule, customer, seq) exists: another run got there first.
	Fire(f *Fire, do func() error) (inserted bool, err error)
}

// FireRef names a rule's fire state for one customer.
type FireRef struct {
	Rule       string
	CustomerID string
}

// FireMark is the latest fire of a rule for a customer.
type FireMark struct {
	Seq int
	At  time.Time
}

// Fire statuses.
const (
	FireFired   = "fired"
	FireHoldout = "holdout"
)

// Fire is one recorded firing of a rule for a customer. A fire is unique per
// (playbook, rule, customer, seq); seq counts cooldown periods, so a crashed
// run that is run again, or two runs racing, cannot fire twice.
type Fire struct {
	ID         int64     `json:"id"`
	RunID      int64     `json:"run_id"`
	Playbook   string    `json:"playbook"`
	Rule       string    `json:"rule"`
	CustomerID string    `json:"customer_id"`
	Seq        int       `json:"seq"`
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	Hash       string    `json:"hash"`
}

// Key is the fire's idempotency key.
func (f *Fire) Key() string {
	return f.Playbook + "/" + f.Rule + "/" + f.CustomerID + "/" + itoa(f.Seq)
}

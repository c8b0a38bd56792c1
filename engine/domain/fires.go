package domain

import (
	"strconv"
	"time"

	"github.com/koihq/koi/actions"
)

// AddedEvents reports what AddEvents did with each event.
type AddedEvents struct {
	// Inserted[i] is true when evs[i] was new; false for a duplicate id or
	// an invalid item.
	Inserted []bool
	// ItemErrs holds the items that were not stored, by index (an unknown
	// customer, say). The others are stored.
	ItemErrs map[int]error
	// Version is the pond version the transaction committed.
	Version int64
}

// CustomerState is the part of a customer local actions change.
type CustomerState struct {
	Tier  string
	Tags  []string
	Guide string
}

// BatchEffects are the effects of a batch of fires: the local ones, and
// the jobs of the remote ones.
type BatchEffects struct {
	Coupons []actions.Coupon
	// Tags and Tiers are the customers' new tags and tiers, by id.
	Tags  map[string][]string
	Tiers map[string]string
	// Guides are the customers' new guides, by id.
	Guides map[string]string
	// Tasks are follow-ups for guides; a task whose key exists is skipped.
	Tasks []NewTask
	// Jobs go into the outbox, due at once or after their Delay; a job
	// whose key exists is skipped (a re-run's).
	Jobs []NewJob
	// Contacts are the messages among the jobs, for the contact history.
	Contacts []Contact
}

// Contact is one message to a customer in the contact history, which
// frequency caps count.
type Contact struct {
	CustomerID string
	Channel    string
	// At is when the message is due: the fire's time, or later when
	// quiet hours or a cap deferred it.
	At     time.Time
	FireID int64
	// JobKey is the message's job, whose outcome the contact history
	// records (Contact state) once it is known.
	JobKey string
}

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
	// Variant is the A/B variant of the rule the fire took, if any.
	Variant string `json:"variant,omitempty"`
	// Group is the rule's benefit group, if any, and GroupSeq the fire's
	// number within the group for the customer: a fire is also unique per
	// (group, customer, group seq), so two rules of one group racing in two
	// runs cannot both fire.
	Group    string `json:"group,omitempty"`
	GroupSeq int    `json:"group_seq,omitempty"`
}

// Key is the fire's idempotency key.
func (f *Fire) Key() string {
	return f.Playbook + "/" + f.Rule + "/" + f.CustomerID + "/" + strconv.Itoa(f.Seq)
}

// MessageRecord is one message to a customer, as the contact history
// keeps it: when it was due, on which channel, and what became of it.
type MessageRecord struct {
	Playbook string    `json:"playbook"`
	Rule     string    `json:"rule"`
	Channel  string    `json:"channel"`
	At       time.Time `json:"at"`
	// State is the message's job state: pending, task_created (a WeCom
	// task waiting for the guide), done or sent (it reached the
	// customer), or why it did not (not_friend, skipped_received_other,
	// unsent, skipped, cancelled, dead).
	State  string `json:"state"`
	JobKey string `json:"job_key"`
}

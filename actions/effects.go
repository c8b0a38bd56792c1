package actions

import "slices"

// The side effects an action may perform, each behind a narrow interface.
// The engine binds them to the fire's database transaction: if any action
// of a fire fails, none of the fire's effects happen.

// Coupons issues coupons into koi's ledger.
type Coupons interface {
	// IssueCoupon writes a coupon. Codes must be unique.
	IssueCoupon(c Coupon) error
}

// Tags changes customers' tags.
type Tags interface {
	// UpdateTags adds and removes tags of a customer and returns the result.
	UpdateTags(customerID string, add, remove []string) ([]string, error)
}

// Tiers changes customers' member tiers.
type Tiers interface {
	// SetTier changes a customer's tier.
	SetTier(customerID, tier string) error
}

// Outbox hands remote work to the dispatcher.
type Outbox interface {
	// Enqueue stores a job in the fire's transaction; the dispatcher
	// delivers it after the transaction commits. Its idempotency key is
	// the fire's key and the action's index: enqueueing again for the
	// same fire and action (a re-run) stores nothing new.
	Enqueue(j Job) error
}

// Effects is everything an action may do to koi's state.
type Effects interface {
	Coupons
	Tags
	Tiers
	Guides
	Tasks
	Outbox
}

// ChangeTags returns current without the tags in remove and with those in
// add appended, each once, keeping the order. It returns a new slice:
// current may be shared.
func ChangeTags(current, add, remove []string) []string {
	tags := make([]string, 0, len(current)+len(add))
	for _, t := range current {
		if !slices.Contains(remove, t) {
			tags = append(tags, t)
		}
	}
	for _, t := range add {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

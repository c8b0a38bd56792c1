// Package domain is koi's vocabulary at the leaf of the import graph:
// customers, events and coupons as they arrive, the error type every layer
// returns, and the validation inputs pass on their way in. The engine
// re-exports these types; the pure packages (profile, policy, evaluate,
// report) use them without importing the engine.
package domain

import "time"

// Customer is one member of the brand's pond, as stored.
type Customer struct {
	ID      string         `json:"id"`
	Name    string         `json:"name,omitempty"`
	Phone   string         `json:"phone,omitempty"`
	Email   string         `json:"email,omitempty"`
	WeComID string         `json:"wecom_id,omitempty"`
	Tier    string         `json:"tier,omitempty"`
	Tags    []string       `json:"tags,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Member  bool           `json:"member"`
	// JoinedAt is when the customer entered the pond.
	JoinedAt time.Time `json:"joined_at"`
	// Birthday is "MM-DD" or "YYYY-MM-DD"; empty when unknown.
	Birthday string `json:"birthday,omitempty"`
	Guide    string `json:"guide,omitempty"`
	// OptOut lists the channels the customer opted out of: koi never
	// sends to them there.
	OptOut []string `json:"opt_out,omitempty"`
	// Identities are the customer's names in other systems (a phone, a
	// unionid …), normalised. Storing a customer adds those it names to
	// theirs; it takes none away.
	Identities []Identity `json:"identities,omitempty"`
	// Aliases are the ids of the customers merged into this one (read
	// only: koi sets them when it merges).
	Aliases []string `json:"aliases,omitempty"`
}

// Event types the profile understands; any other type is a custom event that
// count() can still see.
const (
	EventOrder        = "order"
	EventRefund       = "refund"
	EventShare        = "share"
	EventReferral     = "referral"
	EventCouponRedeem = "coupon_redeem"
)

// Event is something a customer did. Money is in fen.
type Event struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	// Identity, in place of CustomerID, names the customer by one of
	// their identities (a phone, a unionid …): the engine resolves it
	// before the event is stored (Engine.AddEvents).
	Identity  *Identity      `json:"identity,omitempty"`
	Type      string         `json:"type"`
	At        time.Time      `json:"at"`
	AmountFen int64          `json:"amount_fen,omitempty"`
	OrderID   string         `json:"order_id,omitempty"`
	Code      string         `json:"code,omitempty"`
	Attrs     map[string]any `json:"attrs,omitempty"`
	// OptOut, set by the engine for an event of the configured
	// unsubscribe type, is the channel the event opts its customer out of
	// (OptOutAll: every one). The store records the opt-out in the
	// event's transaction, so the two cannot be parted by a crash.
	OptOut string `json:"-"`
}

// OrderKey is the id an order is known by: its order_id, or its event id.
func (e *Event) OrderKey() string {
	if e.OrderID != "" {
		return e.OrderID
	}
	return e.ID
}

// IssuedCoupon is a coupon as the profile needs it.
type IssuedCoupon struct {
	Code      string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Fire statuses.
const (
	FireFired   = "fired"
	FireHoldout = "holdout"
)

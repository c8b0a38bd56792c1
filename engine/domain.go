package engine

import "github.com/koihq/koi/engine/domain"

// The domain's vocabulary, re-exported: the ports below speak it, and
// callers of the engine should not need a second import for it.
type (
	// Customer is a member of the pond; see domain.Customer.
	Customer = domain.Customer
	// Event is something a customer did; see domain.Event.
	Event = domain.Event
	// IssuedCoupon is a coupon a customer holds; see domain.IssuedCoupon.
	IssuedCoupon = domain.IssuedCoupon
	// Error is the error every layer returns; see domain.Error.
	Error = domain.Error
)

// Error codes; see domain.
const (
	EInvalid     = domain.EInvalid
	ENotFound    = domain.ENotFound
	EConflict    = domain.EConflict
	EUnavailable = domain.EUnavailable
	EInternal    = domain.EInternal
)

// ErrorCode returns the code of err; see domain.ErrorCode.
func ErrorCode(err error) string { return domain.ErrorCode(err) }

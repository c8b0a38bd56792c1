package engine

import (
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

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

// The fire history and the per-rule counts of a run, which the ports carry
// and evaluation produces; see package evaluate.
type (
	// Marks are the fire history cooldown and once are decided by.
	Marks = evaluate.Marks
	// FireMark is the latest fire of a rule or benefit group for a customer.
	FireMark = evaluate.FireMark
	// FireRef names a rule's (or group's) fire state for one customer.
	FireRef = evaluate.FireRef
	// GroupRules lists the rules of each benefit group.
	GroupRules = evaluate.GroupRules
	// RuleRef names a rule of a playbook.
	RuleRef = evaluate.RuleRef
	// RuleCounts are the outcomes of one rule in a run.
	RuleCounts = evaluate.RuleCounts
)

// Fire statuses; see domain.
const (
	FireFired   = domain.FireFired
	FireHoldout = domain.FireHoldout
)

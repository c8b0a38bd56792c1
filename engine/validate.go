package engine

import (
	"fmt"
	"strings"
)

// ValidateCustomer checks a customer before it is stored.
func ValidateCustomer(c *Customer) error {
	if strings.TrimSpace(c.ID) == "" {
		return &Error{Code: EInvalid, Field: "id", Message: "is required"}
	}
	if c.Birthday != "" {
		if _, _, ok := parseBirthday(c.Birthday); !ok {
			return &Error{Code: EInvalid, Field: "birthday", Message: fmt.Sprintf("%q is not MM-DD or YYYY-MM-DD", c.Birthday)}
		}
	}
	for _, t := range c.Tags {
		if strings.TrimSpace(t) == "" {
			return &Error{Code: EInvalid, Field: "tags", Message: "tags must not be blank"}
		}
	}
	for _, ch := range c.OptOut {
		if strings.TrimSpace(ch) == "" {
			return &Error{Code: EInvalid, Field: "opt_out", Message: "channel names must not be blank"}
		}
	}
	return nil
}

// ValidateEvent checks an event before it is stored.
func ValidateEvent(e *Event) error {
	switch {
	case strings.TrimSpace(e.ID) == "":
		return &Error{Code: EInvalid, Field: "id", Message: "is required (it makes ingest idempotent)"}
	case strings.TrimSpace(e.CustomerID) == "":
		return &Error{Code: EInvalid, Field: "customer_id", Message: "is required"}
	case strings.TrimSpace(e.Type) == "":
		return &Error{Code: EInvalid, Field: "type", Message: "is required"}
	case e.At.IsZero():
		return &Error{Code: EInvalid, Field: "at", Message: "is required (RFC 3339, like 2026-05-01T10:00:00+08:00)"}
	case e.AmountFen < 0:
		return &Error{Code: EInvalid, Field: "amount", Message: "must not be negative (a refund is its own event type)"}
	case e.AmountFen > MaxAmountFen:
		return &Error{Code: EInvalid, Field: "amount", Message: fmt.Sprintf("must be at most %d fen", int64(MaxAmountFen))}
	}
	switch e.Type {
	case EventOrder:
		if e.AmountFen <= 0 {
			return &Error{Code: EInvalid, Field: "amount", Message: "an order needs a positive amount in yuan"}
		}
	case EventRefund:
		if e.OrderID == "" {
			return &Error{Code: EInvalid, Field: "order_id", Message: "a refund must name the order it refunds"}
		}
		if e.AmountFen <= 0 {
			return &Error{Code: EInvalid, Field: "amount", Message: "a refund needs a positive amount in yuan"}
		}
	case EventCouponRedeem:
		if e.Code == "" {
			return &Error{Code: EInvalid, Field: "code", Message: "a coupon_redeem event needs the coupon code"}
		}
	}
	return nil
}

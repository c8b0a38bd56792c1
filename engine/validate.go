package engine

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Bounds on a customer's fields. A record is about one person; a caller
// must not be able to store megabytes under one id, or tags by the
// thousand that every profile then carries.
const (
	MaxCustomerIDLen = 128
	MaxNameLen       = 256
	MaxTags          = 256
	MaxTagLen        = 128 // bytes: 42 Chinese characters
	MaxAttrs         = 200
)

// phonePattern is a phone number once spaces, dashes, dots and brackets
// are taken out and full-width digits made ASCII: digits, with the
// country code after a + when there is one (+8613800138000, 13800138000,
// 021 6234 5678), and perhaps an extension (转801, ext801, x801).
var phonePattern = regexp.MustCompile(`^\+?[0-9]{5,20}((转|分机|ext|x)[0-9]{1,6})?$`)

// ValidateCustomer checks a customer before it is stored, and completes
// it: one without a tier gets the lowest of tiers. tiers are the
// configured tiers, lowest first; with none, tiers are not checked (a tool
// that has no configuration). An error names the field at fault.
func ValidateCustomer(c *Customer, tiers []string) error {
	invalid := func(field, format string, args ...any) error {
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.TrimSpace(c.ID) == "":
		return invalid("id", "is required")
	case len(c.ID) > MaxCustomerIDLen:
		return invalid("id", "is %d bytes long; at most %d", len(c.ID), MaxCustomerIDLen)
	case strings.IndexFunc(c.ID, unicode.IsControl) >= 0:
		return invalid("id", "must not contain control characters")
	case len(c.Name) > MaxNameLen:
		return invalid("name", "is %d bytes long; at most %d", len(c.Name), MaxNameLen)
	}
	if len(tiers) > 0 {
		switch {
		case c.Tier == "":
			c.Tier = tiers[0]
		case !slices.Contains(tiers, c.Tier):
			return invalid("tier", "unknown tier %q (configured tiers, lowest first: %s)", c.Tier, strings.Join(tiers, ", "))
		}
	}
	c.Phone = strings.TrimSpace(c.Phone)
	c.Email = strings.TrimSpace(c.Email)
	if c.Phone != "" && !phonePattern.MatchString(strings.Map(phoneChars, c.Phone)) {
		return invalid("phone", "%q is not a phone number: digits, with +country code when not Chinese, like +8613800138000 or 13800138000", c.Phone)
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			return invalid("email", "%q is not an email address, like name@example.com", c.Email)
		}
	}
	if c.Birthday != "" {
		if _, _, ok := parseBirthday(c.Birthday); !ok {
			return invalid("birthday", "%q is not MM-DD or YYYY-MM-DD", c.Birthday)
		}
		if y, err := strconv.Atoi(strings.SplitN(c.Birthday, "-", 2)[0]); len(c.Birthday) == 10 && err == nil && (y < 1900 || y > time.Now().Year()) {
			return invalid("birthday", "%q: the year must be from 1900 to this year", c.Birthday)
		}
	}
	if len(c.Tags) > MaxTags {
		return invalid("tags", "%d tags; at most %d", len(c.Tags), MaxTags)
	}
	for _, t := range c.Tags {
		switch {
		case strings.TrimSpace(t) == "":
			return invalid("tags", "tags must not be blank")
		case len(t) > MaxTagLen:
			return invalid("tags", "tag %.20q… is %d bytes long; at most %d", t, len(t), MaxTagLen)
		}
	}
	if len(c.Attrs) > MaxAttrs {
		return invalid("attrs", "%d attributes; at most %d", len(c.Attrs), MaxAttrs)
	}
	for _, ch := range c.OptOut {
		if strings.TrimSpace(ch) == "" {
			return invalid("opt_out", "channel names must not be blank")
		}
	}
	return nil
}

// phoneChars folds a phone number for checking: separators and spaces of
// any width go, full-width digits and plus become ASCII, letters lower case.
func phoneChars(r rune) rune {
	switch {
	case r == '-' || r == '.' || r == '(' || r == ')' || r == '（' || r == '）' || r == '－' || unicode.IsSpace(r):
		return -1
	case r >= '０' && r <= '９':
		return '0' + (r - '０')
	case r == '＋':
		return '+'
	}
	return unicode.ToLower(r)
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

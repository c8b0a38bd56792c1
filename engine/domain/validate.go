package domain

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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

// Bounds on moments. An event is something that happened: from Earliest
// to a day ahead of now (systems' clocks disagree a little). A run, a
// preview or a report may look ahead, for planning, up to MaxRunAhead: a
// run at 9999-11-30 fired real coupons expiring in 9999.
var Earliest = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	MaxEventAhead = 24 * time.Hour
	MaxRunAhead   = 366 * 24 * time.Hour
)

// More bounds on fields that callers fill.
const (
	MaxEventIDLen  = 256 // event ids and order ids
	MaxEventType   = 64
	MaxCodeLen     = 128
	MaxAttrKeyLen  = 64
	MaxAttrsBytes  = 16 << 10 // a record's attrs, as JSON
	maxAttrsDepth  = 8
	MaxChannelName = 64
)

// CheckMoment checks the moment of a run, preview or report, named field:
// from Earliest to MaxRunAhead after now.
func CheckMoment(field string, t, now time.Time) error {
	switch {
	case t.Before(Earliest):
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("%s is before %s", t.Format(time.RFC3339), Earliest.Format("2006-01-02"))}
	case t.After(now.Add(MaxRunAhead)):
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("%s is more than a year ahead", t.Format(time.RFC3339))}
	}
	return nil
}

// CheckText refuses text that is not UTF-8, holds a NUL, or is longer
// than max bytes, naming field.
func CheckText(field, s string, max int) error {
	switch {
	case len(s) > max:
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("is %d bytes long; at most %d", len(s), max)}
	case !utf8.ValidString(s):
		return &Error{Code: EInvalid, Field: field, Message: "is not valid UTF-8"}
	case strings.IndexByte(s, 0) >= 0:
		return &Error{Code: EInvalid, Field: field, Message: "contains a NUL character"}
	}
	return nil
}

// checkAttrs bounds free-form attributes: how many, their keys, their
// size as JSON and their nesting, and the text in them.
func checkAttrs(field string, attrs map[string]any, most int) error {
	if len(attrs) > most {
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("%d attributes; at most %d", len(attrs), most)}
	}
	for k, v := range attrs {
		if k == "" {
			return &Error{Code: EInvalid, Field: field, Message: "an attribute name is empty"}
		}
		if err := CheckText(field+"."+k, k, MaxAttrKeyLen); err != nil {
			return err
		}
		if err := checkValue(field+"."+k, v, 0); err != nil {
			return err
		}
	}
	if len(attrs) > 0 {
		b, err := json.Marshal(attrs)
		if err != nil {
			return &Error{Code: EInvalid, Field: field, Message: err.Error()}
		}
		if len(b) > MaxAttrsBytes {
			return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("are %d bytes as JSON; at most %d", len(b), MaxAttrsBytes)}
		}
	}
	return nil
}

// checkValue checks the text and nesting inside an attribute's value.
func checkValue(field string, v any, depth int) error {
	if depth > maxAttrsDepth {
		return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf("nests more than %d deep", maxAttrsDepth)}
	}
	switch x := v.(type) {
	case string:
		return CheckText(field, x, MaxAttrsBytes)
	case map[string]any:
		for k, e := range x {
			if err := CheckText(field, k, MaxAttrKeyLen); err != nil {
				return err
			}
			if err := checkValue(field+"."+k, e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := checkValue(field, e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

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
	case c.ID == "" && len(c.Identities) > 0:
		// Named by identities: the store finds the customer, or makes one
		// (CustomerIDFor).
	case strings.TrimSpace(c.ID) == "":
		return invalid("id", "is required, unless identities name the customer")
	case strings.IndexFunc(c.ID, unicode.IsControl) >= 0:
		return invalid("id", "must not contain control characters")
	}
	for _, f := range []struct {
		field, value string
		max          int
	}{{"id", c.ID, MaxCustomerIDLen}, {"name", c.Name, MaxNameLen}, {"phone", c.Phone, 64}, {"email", c.Email, 254},
		{"wecom_id", c.WeComID, MaxCustomerIDLen}, {"tier", c.Tier, MaxTagLen}, {"guide", c.Guide, MaxCustomerIDLen}, {"birthday", c.Birthday, 10}} {
		if err := CheckText(f.field, f.value, f.max); err != nil {
			return err
		}
	}
	if !c.JoinedAt.IsZero() && (c.JoinedAt.Before(Earliest) || c.JoinedAt.After(time.Now().Add(MaxEventAhead))) {
		return invalid("joined_at", "%s is not between %s and tomorrow", c.JoinedAt.Format(time.RFC3339), Earliest.Format("2006-01-02"))
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
		if _, _, ok := ParseBirthday(c.Birthday); !ok {
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
		if err := CheckText("tags", t, MaxTagLen); err != nil {
			return err
		}
	}
	if err := checkAttrs("attrs", c.Attrs, MaxAttrs); err != nil {
		return err
	}
	if len(c.OptOut) > MaxOptOuts {
		return invalid("opt_out", "%d channels; at most %d (or * for every channel)", len(c.OptOut), MaxOptOuts)
	}
	for _, ch := range c.OptOut {
		if strings.TrimSpace(ch) == "" {
			return invalid("opt_out", "channel names must not be blank")
		}
		if err := CheckText("opt_out", ch, MaxChannelName); err != nil {
			return err
		}
	}
	ids, err := NormalizeIdentities(c.Identities)
	if err != nil {
		return err
	}
	c.Identities = ids
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
	// An event names its customer by id or by one identity; every other
	// check holds for both.
	if e.Identity != nil {
		if e.CustomerID != "" {
			return &Error{Code: EInvalid, Field: "identity", Message: "give customer_id or identity, not both"}
		}
		id, err := NormalizeIdentity(*e.Identity, "identity")
		if err != nil {
			return err
		}
		e.Identity = &id
	}
	switch {
	case strings.TrimSpace(e.ID) == "":
		return &Error{Code: EInvalid, Field: "id", Message: "is required (it makes ingest idempotent)"}
	case e.Identity == nil && strings.TrimSpace(e.CustomerID) == "":
		return &Error{Code: EInvalid, Field: "customer_id", Message: "is required (or identity: the customer's phone, unionid, …)"}
	case strings.TrimSpace(e.Type) == "":
		return &Error{Code: EInvalid, Field: "type", Message: "is required"}
	case e.At.IsZero():
		return &Error{Code: EInvalid, Field: "at", Message: "is required (RFC 3339, like 2026-05-01T10:00:00+08:00)"}
	case e.AmountFen < 0:
		return &Error{Code: EInvalid, Field: "amount", Message: "must not be negative (a refund is its own event type)"}
	case e.AmountFen > MaxAmountFen:
		return &Error{Code: EInvalid, Field: "amount", Message: fmt.Sprintf("must be at most %d fen", int64(MaxAmountFen))}
	case e.At.Before(Earliest):
		return &Error{Code: EInvalid, Field: "at", Message: fmt.Sprintf("%s is before %s", e.At.Format(time.RFC3339), Earliest.Format("2006-01-02"))}
	case e.At.After(time.Now().Add(MaxEventAhead)):
		return &Error{Code: EInvalid, Field: "at", Message: fmt.Sprintf("%s is more than a day ahead: an event is something that happened", e.At.Format(time.RFC3339))}
	}
	for _, f := range []struct {
		field, value string
		max          int
	}{{"id", e.ID, MaxEventIDLen}, {"customer_id", e.CustomerID, MaxCustomerIDLen}, {"type", e.Type, MaxEventType},
		{"order_id", e.OrderID, MaxEventIDLen}, {"code", e.Code, MaxCodeLen}} {
		if err := CheckText(f.field, f.value, f.max); err != nil {
			return err
		}
	}
	if err := checkAttrs("attrs", e.Attrs, MaxAttrs); err != nil {
		return err
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

// ParseBirthday accepts "MM-DD" and "YYYY-MM-DD".
func ParseBirthday(s string) (time.Month, int, bool) {
	for _, layout := range []string{"2006-01-02", "01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Month(), t.Day(), true
		}
	}
	// time.Parse rejects 02-29 without a year; accept it explicitly.
	if s == "02-29" {
		return time.February, 29, true
	}
	return 0, 0, false
}

// MaxAmountFen is the largest event amount koi keeps: 2^48-1 fen, about
// 2.8 trillion yuan.
const MaxAmountFen = 1<<48 - 1

// MaxOptOuts bounds a customer's opt-out list; see profile.UnionOptOut.
const MaxOptOuts = 64

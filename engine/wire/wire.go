// Package wire is the outside form of customers and events: JSON (import
// lines, API bodies) and CSV (import files), decoded strictly, with errors
// that name the field at fault. Money is in yuan here and in fen inside.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// FieldError is a problem with one field of a record.
type FieldError struct {
	// Field is the JSON field or CSV column; empty when the fault is the
	// whole value (invalid JSON, say).
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Customer is a customer as it arrives.
type Customer struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Phone    string         `json:"phone"`
	Email    string         `json:"email"`
	WeComID  string         `json:"wecom_id"`
	Tier     string         `json:"tier"`
	Tags     []string       `json:"tags"`
	Member   bool           `json:"member"`
	JoinedAt string         `json:"joined_at"`
	Birthday string         `json:"birthday"`
	Guide    string         `json:"guide"`
	OptOut   []string       `json:"opt_out"`
	Attrs    map[string]any `json:"attrs"`
	// Identities are added to the customer's (a phone, a unionid …).
	Identities []domain.Identity `json:"identities"`
}

// Event is an event as it arrives; its amount is in yuan.
type Event struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	// Identity names the customer by an identity instead of customer_id.
	Identity *domain.Identity `json:"identity"`
	Type     string           `json:"type"`
	Amount   float64          `json:"amount"`
	At       string           `json:"at"`
	OrderID  string           `json:"order_id"`
	Code     string           `json:"code"`
	Attrs    map[string]any   `json:"attrs"`
}

// DecodeStrict decodes one JSON value strictly into v: unknown fields
// and trailing values are errors.
func DecodeStrict(line []byte, v any) error {
	// encoding/json would replace invalid UTF-8 with U+FFFD, storing text
	// the sender did not send: refuse it.
	if !utf8.Valid(line) {
		return &FieldError{Msg: "invalid JSON: not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &FieldError{Field: te.Field, Msg: fmt.Sprintf("want %s, got JSON %s", jsonKind(te.Type.Kind().String()), te.Value)}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return &FieldError{Field: strings.Trim(f, `"`), Msg: "unknown field"}
		}
		return &FieldError{Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	if dec.More() {
		return &FieldError{Msg: "invalid JSON: more than one value"}
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "float64", "int", "int64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "map":
		return "an object"
	}
	return "a " + k
}

// ParseTime accepts RFC 3339, or a date taken as midnight in loc; an error
// names field.
func ParseTime(field, s string, loc *time.Location) (time.Time, error) {
	return parseTime(field, s, loc)
}

// parseTime accepts RFC 3339, or a date taken as midnight in loc.
func parseTime(field, s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, &FieldError{Field: field, Msg: fmt.Sprintf("%q is not RFC 3339 (like 2026-05-01T10:00:00+08:00) or a date", s)}
}

// ToCustomer converts and validates the record against the configured
// tiers (see domain.ValidateCustomer); a date without a time is midnight
// in loc.
func (r *Customer) ToCustomer(loc *time.Location, tiers []string) (domain.Customer, error) {
	c := domain.Customer{ID: r.ID, Name: r.Name, Phone: r.Phone, Email: r.Email, WeComID: r.WeComID,
		Tier: r.Tier, Tags: r.Tags, Member: r.Member, Birthday: r.Birthday, Guide: r.Guide, OptOut: r.OptOut, Attrs: r.Attrs,
		Identities: r.Identities}
	if r.JoinedAt != "" {
		t, err := parseTime("joined_at", r.JoinedAt, loc)
		if err != nil {
			return c, err
		}
		c.JoinedAt = t
	}
	return c, domain.ValidateCustomer(&c, tiers)
}

// ToEvent converts and validates the record; a date without a time is
// midnight in loc.
func (r *Event) ToEvent(loc *time.Location) (domain.Event, error) {
	e := domain.Event{ID: r.ID, CustomerID: r.CustomerID, Identity: r.Identity, Type: r.Type, OrderID: r.OrderID, Code: r.Code, Attrs: r.Attrs}
	switch {
	case math.IsNaN(r.Amount) || math.IsInf(r.Amount, 0):
		return e, &FieldError{Field: "amount", Msg: "must be a number of yuan"}
	case r.Amount > domain.MaxAmountFen/100:
		// Converted to fen, it would not fit: say so, not "negative".
		return e, &FieldError{Field: "amount", Msg: fmt.Sprintf("must be at most %d yuan", int64(domain.MaxAmountFen/100))}
	}
	e.AmountFen = actions.YuanToFen(r.Amount)
	if r.At == "" {
		return e, &FieldError{Field: "at", Msg: "is required (RFC 3339)"}
	}
	t, err := parseTime("at", r.At, loc)
	if err != nil {
		return e, err
	}
	e.At = t
	return e, domain.ValidateEvent(&e)
}

// CustomerFromCSV fills a record from a CSV row by header name. Columns named
// attrs.KEY become attributes; tags are separated by "|".
func CustomerFromCSV(header, row []string) (Customer, error) {
	var r Customer
	for i, h := range header {
		v := strings.TrimSpace(row[i])
		var err error
		switch h {
		case "id":
			r.ID = v
		case "name":
			r.Name = v
		case "phone":
			r.Phone = v
		case "email":
			r.Email = v
		case "wecom_id":
			r.WeComID = v
		case "tier":
			r.Tier = v
		case "tags":
			r.Tags = splitTags(v)
		case "member":
			r.Member, err = parseCSVBool(h, v)
		case "joined_at":
			r.JoinedAt = v
		case "birthday":
			r.Birthday = v
		case "guide":
			r.Guide = v
		case "opt_out":
			r.OptOut = splitTags(v)
		case "attrs":
			err = csvAttrs(h, v, &r.Attrs)
		default:
			err = csvAttr(h, v, &r.Attrs)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// EventFromCSV fills an event record from a CSV row by header name.
func EventFromCSV(header, row []string) (Event, error) {
	var r Event
	for i, h := range header {
		v := strings.TrimSpace(row[i])
		var err error
		switch h {
		case "id":
			r.ID = v
		case "customer_id":
			r.CustomerID = v
		case "type":
			r.Type = v
		case "amount":
			if v != "" {
				if r.Amount, err = strconv.ParseFloat(v, 64); err != nil {
					err = &FieldError{Field: h, Msg: fmt.Sprintf("%q is not a number of yuan", v)}
				}
			}
		case "at":
			r.At = v
		case "order_id":
			r.OrderID = v
		case "code":
			r.Code = v
		case "attrs":
			err = csvAttrs(h, v, &r.Attrs)
		default:
			err = csvAttr(h, v, &r.Attrs)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func splitTags(v string) []string {
	if v == "" {
		return nil
	}
	var tags []string
	for _, t := range strings.Split(v, "|") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

func parseCSVBool(field, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "n":
		return false, nil
	case "1", "true", "yes", "y":
		return true, nil
	}
	return false, &FieldError{Field: field, Msg: fmt.Sprintf("%q is not true or false", v)}
}

func csvAttrs(field, v string, attrs *map[string]any) error {
	if v == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(v), attrs); err != nil {
		return &FieldError{Field: field, Msg: "want a JSON object"}
	}
	return nil
}

func csvAttr(column, v string, attrs *map[string]any) error {
	key, ok := strings.CutPrefix(column, "attrs.")
	if !ok || key == "" {
		return &FieldError{Field: column, Msg: "unknown column (custom attributes go in attrs.NAME columns)"}
	}
	if v == "" {
		return nil
	}
	if *attrs == nil {
		*attrs = map[string]any{}
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		(*attrs)[key] = n
	} else {
		(*attrs)[key] = v
	}
	return nil
}

package domain

import (
	"errors"
	"testing"
	"time"
)

func TestValidateEventNamesTheField(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	ok := Event{ID: "e1", CustomerID: "c1", Type: EventOrder, At: at, AmountFen: 100}
	cases := []struct {
		name  string
		edit  func(e *Event)
		field string
	}{
		{"no id", func(e *Event) { e.ID = " " }, "id"},
		{"no customer", func(e *Event) { e.CustomerID = "" }, "customer_id"},
		{"no type", func(e *Event) { e.Type = "" }, "type"},
		{"no time", func(e *Event) { e.At = time.Time{} }, "at"},
		{"negative", func(e *Event) { e.AmountFen = -1 }, "amount"},
		{"too large", func(e *Event) { e.AmountFen = MaxAmountFen + 1 }, "amount"},
		{"free order", func(e *Event) { e.AmountFen = 0 }, "amount"},
		{"refund of nothing", func(e *Event) { e.Type = EventRefund }, "order_id"},
		{"redeem without code", func(e *Event) { e.Type = EventCouponRedeem }, "code"},
	}
	if err := ValidateEvent(&ok); err != nil {
		t.Fatalf("valid event: %v", err)
	}
	for _, c := range cases {
		e := ok
		c.edit(&e)
		var kerr *Error
		if err := ValidateEvent(&e); !errors.As(err, &kerr) || kerr.Field != c.field {
			t.Errorf("%s: got %v, want an error on %s", c.name, err, c.field)
		}
	}
}

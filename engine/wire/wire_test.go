package wire_test

import (
	"errors"
	"testing"
	"time"

	"github.com/koihq/koi/engine/wire"
)

// Each bad record names its field; a good one converts yuan to fen and
// takes a bare date as midnight in the given location.
func TestEventRecords(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	for _, tc := range []struct{ in, field string }{
		{`{"id": "e1", "customer_id": "c1", "type": "order", "at": "2026-05-01", "amount": "12"}`, "amount"},
		{`{"id": "e1", "customer_id": "c1", "type": "order", "at": "2026-05-01", "colour": "red"}`, "colour"},
		{`{"id": "e1", "customer_id": "c1", "type": "order", "at": "yesterday"}`, "at"},
		{`{"id": "e1", "customer_id": "c1", "type": "order"}`, "at"},
		{`{"id": "e1"} {"id": "e2"}`, ""},
	} {
		var rec wire.Event
		err := wire.DecodeStrict([]byte(tc.in), &rec)
		if err == nil {
			_, err = rec.ToEvent(shanghai)
		}
		var fe *wire.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: got %v, want an error about %q", tc.in, err, tc.field)
		}
	}
	var rec wire.Event
	if err := wire.DecodeStrict([]byte(`{"id": "e1", "customer_id": "c1", "type": "order", "at": "2026-05-01", "amount": 12.34}`), &rec); err != nil {
		t.Fatal(err)
	}
	e, err := rec.ToEvent(shanghai)
	if err != nil {
		t.Fatal(err)
	}
	if e.AmountFen != 1234 || !e.At.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, shanghai)) {
		t.Fatalf("got %d fen at %v", e.AmountFen, e.At)
	}
}

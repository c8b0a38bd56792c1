package profile

import (
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// The pond packs an event's amount and type into one word; the largest
// amount it accepts must come back whole, next to its type.
func TestCompactEventKeepsTheLargestAmount(t *testing.T) {
	for _, amount := range []int64{0, 1, 123_456_789, domain.MaxAmountFen} {
		e := newCompactEvent(1, amount, 0xfffe, 42)
		if e.amount() != amount || e.typ() != 0xfffe || e.ref != 42 || e.at != 1 {
			t.Errorf("amount %d: got amount %d type %#x", amount, e.amount(), e.typ())
		}
	}
}

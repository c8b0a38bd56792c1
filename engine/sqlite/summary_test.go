package sqlite_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/koihq/koi/engine/domain"
)

// The pond summary counts each relationship layer with the deeper ones,
// every customer in one RFM segment (or unscored), and decomposes the
// window's GMV into factors whose product is the GMV, against the window
// before it.
func TestPondSummary(t *testing.T) {
	f := newFixture(t)
	f.customers(10, 5) // all members; c000-c004 ordered 100 yuan 50 days ago
	ctx := context.Background()
	evs := []domain.Event{
		{ID: "o-late-0", CustomerID: "c000", Type: domain.EventOrder, At: t0.Add(-10 * day), AmountFen: 10000},
		{ID: "o-late-1", CustomerID: "c001", Type: domain.EventOrder, At: t0.Add(-5 * day), AmountFen: 20000},
		{ID: "r1", CustomerID: "c000", Type: domain.EventReferral, At: t0.Add(-3 * day)},
		{ID: "r2", CustomerID: "c000", Type: domain.EventReferral, At: t0.Add(-2 * day)},
		{ID: "v1", CustomerID: "c005", Type: "visit", At: t0.Add(-day)},
		{ID: "v-future", CustomerID: "c006", Type: "visit", At: t0.Add(day)},
	}
	if _, bad, err := f.db.InsertEvents(ctx, evs); err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	e := f.engine()
	if _, err := e.PondSummary(ctx, t0, 7); err == nil {
		t.Error("a 7-day window was accepted")
	}
	s, err := e.PondSummary(ctx, t0, 30)
	if err != nil {
		t.Fatal(err)
	}
	if s.Customers != 10 {
		t.Errorf("customers %d", s.Customers)
	}
	var layers []string
	var counts []int
	for _, l := range s.Layers {
		layers, counts = append(layers, l.Stage), append(counts, l.Customers)
	}
	if want := []string{"basic", "member", "purchased", "repeat", "koc"}; !slices.Equal(layers, want) {
		t.Errorf("layers %v, want %v", layers, want)
	}
	if counts[0] != 10 || counts[1] != 10 || counts[2] != 5 || counts[3] != 2 || counts[4] > counts[3] {
		t.Errorf("layer counts %v, want 10, 10, 5, 2, then at most 2", counts)
	}
	total, unscored := 0, 0
	for _, seg := range s.Segments {
		total += seg.Customers
		if seg.Segment == "unscored" {
			unscored = seg.Customers
		}
	}
	if len(s.Segments) != 9 || total != 10 || unscored != 5 {
		t.Errorf("%d segments holding %d customers, %d unscored; want 9, 10, 5", len(s.Segments), total, unscored)
	}
	c := s.Current
	if c.Active != 3 || c.Buyers != 2 || c.Orders != 2 || c.GMVYuan != 300 || c.Referrals != 2 {
		t.Errorf("current window %+v; want 3 active, 2 buyers, 2 orders, 300 yuan, 2 referrals", c)
	}
	if p := s.Previous; p.Active != 5 || p.Buyers != 5 || p.Orders != 5 || p.GMVYuan != 500 || !p.To.Equal(t0.Add(-30*day)) {
		t.Errorf("previous window %+v; want 5 active, 5 buyers, 5 orders, 500 yuan, ending 30 days before", p)
	}
	for _, g := range []struct {
		name string
		f    interface {
			OwnTraffic() float64
			Referral() float64
			Conversion() float64
			AOV() float64
			Repurchase() float64
		}
		gmv float64
	}{{"current", s.Current, s.Current.GMVYuan}, {"previous", s.Previous, s.Previous.GMVYuan}} {
		product := g.f.OwnTraffic() * g.f.Referral() * g.f.Conversion() * g.f.AOV() * g.f.Repurchase()
		if math.Abs(product-g.gmv) > 1e-9 {
			t.Errorf("%s: the factors multiply to %v, GMV is %v", g.name, product, g.gmv)
		}
	}
}

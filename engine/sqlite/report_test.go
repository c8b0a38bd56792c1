package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// The report counts, per group, the customers with an order within the
// window after their fire, net of refunds, and the orders that redeemed
// the fire's coupons; fires whose window is open wait.
func TestRuleReport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(40, 0)
	f.playbook("offer", `
name: offer
holdout: 50%
attribution: 10d
limits: { max_fires: 1000 }
rules:
  - id: coupon
    when: member
    once: true
    actions:
      - coupon: { amount: 10, expires_in: 30d }
`)
	e := f.engine()
	f.run(e, t0, false)
	var treated, holdout []string
	rows, err := f.db.SQL().Query(`SELECT customer_id, status FROM fires ORDER BY customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		if status == domain.FireHoldout {
			holdout = append(holdout, id)
		} else {
			treated = append(treated, id)
		}
	}
	rows.Close()
	if len(treated) < 4 || len(holdout) < 3 {
		t.Fatalf("split %d/%d: the fixture needs a few of each", len(treated), len(holdout))
	}
	var evs []domain.Event
	order := func(id, cust string, days float64, fen int64) {
		evs = append(evs, domain.Event{ID: id, CustomerID: cust, Type: "order", At: t0.Add(f2d(days)), AmountFen: fen})
	}
	order("t0-a", treated[0], 2, 10000)  // converted, 100 yuan
	order("t0-b", treated[0], 9.5, 5000) // and again in the window: 150
	order("t1-a", treated[1], 3, 8000)   // converted, then refunded in part
	evs = append(evs, domain.Event{ID: "t1-r", CustomerID: treated[1], Type: "refund", At: t0.Add(f2d(4)), AmountFen: 3000, OrderID: "t1-a"})
	order("t2-a", treated[2], 4, 6000) // refunded in full: not a conversion
	evs = append(evs, domain.Event{ID: "t2-r", CustomerID: treated[2], Type: "refund", At: t0.Add(f2d(5)), AmountFen: 6000, OrderID: "t2-a"})
	order("t3-a", treated[3], 11, 9000) // after the window
	order("h0-a", holdout[0], 1, 4000)  // holdout converted
	order("h1-a", holdout[1], -1, 7000) // before the fire
	if res, err := e.AddEvents(ctx, evs); err != nil || len(res.ItemErrs) > 0 {
		t.Fatal(err, res.ItemErrs)
	}
	// treated[0] redeems the coupon with the order of day 2.
	var code string
	if err := f.db.SQL().QueryRow(`SELECT code FROM coupons WHERE customer_id = ?`, treated[0]).Scan(&code); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RedeemCoupon(ctx, code, "t0-a", t0.Add(2*day)); err != nil {
		t.Fatal(err)
	}

	// Nine days on, every window is open.
	reps, err := e.Report(ctx, "offer", t0.Add(9*day))
	if err != nil || len(reps) != 1 || reps[0].Open != 40 || reps[0].Treated.Customers != 0 {
		t.Fatalf("before the window closes: %+v %v", reps, err)
	}
	reps, err = e.Report(ctx, "offer", t0.Add(20*day))
	if err != nil {
		t.Fatal(err)
	}
	r := reps[0]
	tr, ho := r.Treated, r.Holdout
	if tr.Customers != len(treated) || tr.Converted != 2 || tr.Revenue != 200 || tr.CouponRevenue != 100 {
		t.Errorf("treated: %+v; want %d customers, 2 converted, 200 yuan (150 + 80 - 30), 100 coupon-attributed", tr, len(treated))
	}
	if ho == nil || ho.Customers != len(holdout) || ho.Converted != 1 || ho.Revenue != 40 {
		t.Errorf("holdout: %+v; want %d customers, 1 converted, 40 yuan", ho, len(holdout))
	}
	wantUplift := 2/float64(len(treated)) - 1/float64(len(holdout))
	if r.Uplift == nil || !closeTo(r.Uplift.Uplift, wantUplift) || r.Uplift.Enough || r.Window != "10d" {
		t.Errorf("uplift %+v, window %s; want %.4f and not enough data for a verdict", r.Uplift, r.Window, wantUplift)
	}
}

func f2d(days float64) time.Duration { return time.Duration(days * float64(day)) }

func closeTo(a, b float64) bool { return fmt.Sprintf("%.9f", a) == fmt.Sprintf("%.9f", b) }

// The report finds a fire's coupons through the index of redeemed ones:
// coupons are no longer indexed by fire when issued (migration 0025), and
// a plan that scanned coupons once per fire would make the report
// quadratic in a year of history.
func TestOutcomeReportFindsCouponsByIndex(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.SQL().Query(`EXPLAIN QUERY PLAN `+sqlite.OutcomeFiresQuery, "pb", "pb")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, step := range plan {
		if strings.Contains(step, "SCAN c") {
			t.Errorf("the report scans coupons: %q", plan)
		}
		found = found || strings.Contains(step, "USING INDEX coupons_redeemed")
	}
	if !found {
		t.Errorf("the report does not use coupons_redeemed: %q", plan)
	}
}

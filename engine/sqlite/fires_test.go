package sqlite_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// The batch statements run OR FAIL, which keeps the rows a failing
// statement wrote before it failed; the transaction must take them back.
// Each case fails in the last row of a full-size statement (500 rows, the
// prepared kind), after 499 good ones. (The customer of a coupon or of a
// tag change is checked by staging, before the store sees it:
// TestCouponsOfACustomerDeletedMidRun.)
func TestAFailedBatchStatementLeavesNothing(t *testing.T) {
	const n = 500
	for _, tc := range []struct {
		name, wantErr string
		fill          func(e *domain.BatchEffects)
	}{
		{"coupons", "coupons", func(e *domain.BatchEffects) {
			for i := 0; i < n; i++ {
				code := fmt.Sprintf("K%03d", i)
				if i == n-1 {
					code = "K000" // a duplicate code
				}
				e.Coupons = append(e.Coupons, actions.Coupon{Code: code, CustomerID: fmt.Sprintf("c%03d", i), AmountFen: 100, IssuedAt: t0, ExpiresAt: t0.Add(day)})
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.customers(n, 0)
			_, err := f.db.WriteFires(context.Background(), t0, func(tx engine.FireTx) error {
				fires := []*domain.Fire{{RunID: 1, Playbook: "p", Rule: "r", CustomerID: "c000", Seq: 1, Status: domain.FireFired, At: t0}}
				if _, err := tx.InsertFires(fires); err != nil {
					return err
				}
				e := &domain.BatchEffects{Tags: map[string][]string{}, Tiers: map[string]string{}}
				tc.fill(e)
				return tx.ApplyEffects(e)
			})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("WriteFires = %v, want an error saying %s", err, tc.wantErr)
			}
			for _, q := range []string{`SELECT count(*) FROM fires`, `SELECT count(*) FROM coupons`, `SELECT count(*) FROM customers_now WHERE tags != '[]'`} {
				if got := f.count(q); got != 0 {
					t.Errorf("%s = %d after the failed batch, want 0", q, got)
				}
			}
		})
	}
}

// InsertFires numbers fires itself and reports the keys that existed,
// in small statements and in full prepared ones.
func TestInsertFiresSkipsExistingKeys(t *testing.T) {
	f := newFixture(t)
	f.customers(600, 0)
	fire := func(i int) *domain.Fire {
		return &domain.Fire{RunID: 1, Playbook: "p", Rule: "r", CustomerID: fmt.Sprintf("c%03d", i), Seq: 1, Status: domain.FireFired, At: t0}
	}
	insert := func(fires []*domain.Fire) []bool {
		t.Helper()
		var got []bool
		if _, err := f.db.WriteFires(context.Background(), t0, func(tx engine.FireTx) error {
			var err error
			got, err = tx.InsertFires(fires)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Customers 0 and 550 have fired before.
	insert([]*domain.Fire{fire(0), fire(550)})
	var fires []*domain.Fire
	for i := 0; i < 600; i++ {
		fires = append(fires, fire(i))
	}
	got := insert(fires)
	ids := map[int64]bool{}
	for i, fr := range fires {
		existed := i == 0 || i == 550
		if got[i] == existed {
			t.Errorf("fire %d: inserted = %v, want %v", i, got[i], !existed)
		}
		if existed && fr.ID != 0 || !existed && (fr.ID == 0 || ids[fr.ID]) {
			t.Errorf("fire %d: id %d", i, fr.ID)
		}
		ids[fr.ID] = true
		if !existed {
			if n := f.count(`SELECT count(*) FROM fires WHERE id = ? AND customer_id = ?`, fr.ID, fr.CustomerID); n != 1 {
				t.Errorf("fire %d: no row with id %d for %s", i, fr.ID, fr.CustomerID)
			}
		}
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != 600 {
		t.Errorf("%d fires stored, want 600", n)
	}
}

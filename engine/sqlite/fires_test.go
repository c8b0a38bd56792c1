package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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

// InsertFires stores every column of every fire as given, whether the
// fires of a statement share their run, playbook, time and hash (bound
// once, numbered parameters) or not, and with benefit groups or without.
func TestInsertFiresStoresEveryColumn(t *testing.T) {
	f := newFixture(t)
	f.customers(700, 0)
	fire := func(i int) *domain.Fire {
		return &domain.Fire{RunID: 7, Playbook: "spring", Rule: fmt.Sprintf("r%d", i%3), CustomerID: fmt.Sprintf("c%03d", i),
			Seq: 1 + i%2, Status: domain.FireFired, At: t0, Hash: "h1"}
	}
	var shared, grouped, mixed []*domain.Fire
	for i := range 600 { // a full statement of 500 and one of 64, 32 and 4
		fr := fire(i)
		if i%5 == 0 {
			fr.Status = domain.FireHoldout
		}
		if i%7 == 0 {
			fr.Variant = "b"
		}
		shared = append(shared, fr)
	}
	for i := 600; i < 650; i++ {
		fr := fire(i)
		if i%2 == 0 {
			fr.Group, fr.GroupSeq = "vouchers", i
		}
		grouped = append(grouped, fr)
	}
	for i := 650; i < 700; i++ {
		fr := fire(i)
		if i%2 == 0 {
			fr.RunID, fr.Playbook, fr.At, fr.Hash = 8, "autumn", t0.Add(time.Hour), "h2"
		}
		mixed = append(mixed, fr)
	}
	for _, fires := range [][]*domain.Fire{shared, grouped, mixed} {
		if _, err := f.db.WriteFires(context.Background(), t0, func(tx engine.FireTx) error {
			_, err := tx.InsertFires(fires)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := f.db.SQL().Query(`SELECT id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant,
		coalesce(grp, '-'), coalesce(gseq, -1), written_at FROM fires_recent ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	all := slices.Concat(shared, grouped, mixed)
	n := 0
	for ; rows.Next(); n++ {
		var got domain.Fire
		var at, written int64
		if err := rows.Scan(&got.ID, &got.RunID, &got.Playbook, &got.Rule, &got.CustomerID, &got.Seq, &got.Status, &at, &got.Hash,
			&got.Variant, &got.Group, &got.GroupSeq, &written); err != nil {
			t.Fatal(err)
		}
		if n >= len(all) {
			continue
		}
		want := *all[n]
		got.At = time.UnixMilli(at).UTC()
		if want.Group == "" {
			want.Group, want.GroupSeq = "-", -1
		}
		if got != want || written <= 0 {
			t.Errorf("row %d:\n got %+v written %d\nwant %+v", n, got, written, want)
		}
	}
	if n != len(all) {
		t.Errorf("%d fires stored, want %d", n, len(all))
	}
}

package sqlite_test

import (
	"context"
	"testing"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

// AddEvents asks known about the version it writes on and trusts its
// answer; when known cannot vouch it reads the customers table. A refused
// event's id stays free for a later event of a known customer.
func TestAddEventsAsksKnownCustomers(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	ctx := context.Background()
	ev := func(id, cust string) domain.Event {
		return domain.Event{ID: id, CustomerID: cust, Type: "visit", At: t0}
	}
	before, err := f.db.PondVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var asked []int64
	// Vouches for every version, and says c001 does not exist though it is
	// stored: the store must go by the answer, not by its table.
	vouching := func(version int64, ids []string, exists []bool) bool {
		asked = append(asked, version)
		for i, id := range ids {
			exists[i] = id != "c001" && id != "ghost"
		}
		return true
	}
	res, err := f.db.AddEvents(ctx, []domain.Event{ev("a", "c000"), ev("b", "c001"), ev("c", "ghost")}, vouching)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != before {
		t.Errorf("known asked about versions %v, want [%d] (the version before the write)", asked, before)
	}
	if !res.Inserted[0] || res.Inserted[1] || res.Inserted[2] || res.ItemErrs[1] == nil || res.ItemErrs[2] == nil {
		t.Errorf("inserted %v, item errors %v: want only c000's event, the others refused", res.Inserted, res.ItemErrs)
	}
	if got := res.ItemErrs[1].Error(); got != `customer_id: unknown customer "c001"` {
		t.Errorf("refusal reads %q", got)
	}

	// A known that cannot vouch leaves it to the table: c001 exists.
	unsure := func(int64, []string, []bool) bool { return false }
	res, err = f.db.AddEvents(ctx, []domain.Event{ev("b", "c001"), ev("c", "ghost")}, unsure)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Inserted[0] || res.Inserted[1] || res.ItemErrs[1] == nil || len(res.ItemErrs) != 1 {
		t.Errorf("without a vouching known: inserted %v, item errors %v; want c001's event in, ghost's refused", res.Inserted, res.ItemErrs)
	}
	if n := f.count(`SELECT count(*) FROM events WHERE customer_id NOT IN (SELECT id FROM customers)`); n != 0 {
		t.Errorf("%d events of unknown customers stored", n)
	}
	// "c" was refused twice; it is still free.
	res, err = f.db.AddEvents(ctx, []domain.Event{ev("c", "c002")}, nil)
	if err != nil || !res.Inserted[0] {
		t.Errorf("the refused id c, sent for a stored customer: inserted %v, err %v", res.Inserted, err)
	}
}

// A customer deleted while a run writes gets no coupon, no tag change and
// no fire, whether the deletion went through the engine (its pond
// follows) or through another process (the batch reads the customers
// table): the write connection does not enforce foreign keys, so the
// batch drops the decisions of customers gone (suppressed as gone) before
// it writes anything.
func TestCouponsOfACustomerDeletedMidRun(t *testing.T) {
	for _, how := range []string{"engine", "other process"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t)
			f.customers(20, 0)
			f.playbook("gift", `
name: gift
limits: { max_fires: 100 }
rules:
  - id: gift
    when: member
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
  - id: mark
    when: member
    once: true
    actions:
      - tag: { add: [gifted] }
`)
			ctx := context.Background()
			var e *engine.Engine
			deleted := false
			e = engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal"}, BatchSize: 7, AfterBatch: func(string, int) {
				if deleted {
					return
				}
				deleted = true
				var err error
				if how == "engine" {
					err = e.DeleteCustomer(ctx, "c015")
				} else {
					_, err = f.otherWriter().DeleteCustomer(ctx, "c015")
				}
				if err != nil {
					t.Error(err)
				}
			}})
			if err := e.Load(f.dir); err != nil {
				t.Fatal(err)
			}
			r := f.run(e, t0, false)
			if !deleted {
				t.Fatal("the run wrote no batch")
			}
			for _, c := range r.Rules {
				if c.Matched != 20 || c.Fired != 19 || c.Suppressed[evaluate.ReasonGone] != 1 || c.Errors != 0 {
					t.Errorf("%s: matched %d, fired %d, gone %d, errors %d (%s); want 20, 19, 1, 0", c.Rule, c.Matched, c.Fired,
						c.Suppressed[evaluate.ReasonGone], c.Errors, c.FirstError)
				}
			}
			for _, q := range []string{
				`SELECT count(*) FROM coupons WHERE customer_id NOT IN (SELECT id FROM customers)`,
				`SELECT count(*) FROM fires WHERE customer_id = 'c015'`,
				`SELECT count(*) FROM customer_changes WHERE customer_id NOT IN (SELECT id FROM customers)`,
			} {
				if n := f.count(q); n != 0 {
					t.Errorf("%s: %d", q, n)
				}
			}
			if n := f.count(`SELECT count(*) FROM coupons`); n != 19 {
				t.Errorf("%d coupons, want 19", n)
			}
			if n := f.count(`SELECT count(*) FROM customers_now WHERE tags LIKE '%gifted%'`); n != 19 {
				t.Errorf("%d customers tagged, want 19", n)
			}
		})
	}
}

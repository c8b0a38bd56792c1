package sqlite_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

const tagAndTier = `
name: up
rules:
  - id: tag
    when: "true"
    once: true
    actions:
      - tag: { add: [seen] }
  - id: tier
    when: id == "c001"
    once: true
    actions:
      - set_tier: gold
`

// pondCustomer loads the pond afresh, as a restarted process would, and
// returns one customer of it.
func (f *fixture) pondCustomer(id string) *profile.PondCustomer {
	f.t.Helper()
	pond, err := f.db.LoadPond(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	i, ok := pond.Lookup(id)
	if !ok {
		f.t.Fatalf("%s not in the pond", id)
	}
	return pond.Customers[i]
}

// Tags and tiers that fires set are logged, not written into the customers
// rows; every way of reading a customer sees them all the same, before
// and after they are folded into the rows, and folding moves no pond
// version (nothing anyone reads changed).
func TestCustomerChangesReadTheSameBeforeAndAfterFolding(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("up", tagAndTier)
	if r := f.run(f.engine(), t0, false); r.Fired != 4 {
		t.Fatalf("fired %d, want 4", r.Fired)
	}
	check := func(when string) {
		t.Helper()
		c, err := f.db.GetCustomer(context.Background(), "c001")
		if err != nil {
			t.Fatal(err)
		}
		if c.Tier != "gold" || !slices.Equal(c.Tags, []string{"seen"}) {
			t.Errorf("%s: GetCustomer(c001) tier %q tags %v, want gold [seen]", when, c.Tier, c.Tags)
		}
		p := f.pondCustomer("c001")
		if p.Tier() != "gold" || !slices.Equal(p.Tags(), []string{"seen"}) {
			t.Errorf("%s: pond c001 tier %q tags %v, want gold [seen]", when, p.Tier(), p.Tags())
		}
		if p := f.pondCustomer("c002"); p.Tier() != "normal" || !slices.Equal(p.Tags(), []string{"seen"}) {
			t.Errorf("%s: pond c002 tier %q tags %v, want normal [seen]: a tags-only change kept the tier", when, p.Tier(), p.Tags())
		}
		if n := f.count(`SELECT count(*) FROM customers_now WHERE tags = '["seen"]'`); n != 3 {
			t.Errorf("%s: customers_now has %d tagged customers, want 3", when, n)
		}
	}
	check("logged")
	// Whether the background fold has run yet or not, FoldChanges leaves
	// the log empty and the rows holding the changes.
	before, err := f.db.PondVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.FoldChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM customer_changes`); n != 0 {
		t.Errorf("%d changes left after folding", n)
	}
	if n := f.count(`SELECT count(*) FROM customers WHERE tags = '["seen"]'`); n != 3 {
		t.Errorf("the customers rows hold %d tagged customers after folding, want 3", n)
	}
	if n := f.count(`SELECT count(*) FROM customers WHERE id = 'c001' AND tier = 'gold'`); n != 1 {
		t.Error("c001's row is not gold after folding")
	}
	after, err := f.db.PondVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("folding moved the pond version from %d to %d: every engine would reload for nothing", before, after)
	}
	check("folded")
}

// Once writes pause, the background folds the log without being asked.
func TestCustomerChangesFoldWhenWritesPause(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("up", tagAndTier)
	f.run(f.engine(), t0, false)
	deadline := time.Now().Add(10 * time.Second)
	for f.count(`SELECT count(*) FROM customer_changes`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the changes were never folded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.count(`SELECT count(*) FROM customers WHERE tags = '["seen"]'`); n != 3 {
		t.Errorf("the rows hold %d tagged customers, want 3", n)
	}
}

// A later change wins over an earlier one, folded or not: folding the
// older changes in a chunk of their own must not undo a newer one.
func TestLaterCustomerChangesWin(t *testing.T) {
	f := newFixture(t)
	f.customers(1, 0)
	write := func(tags []string) {
		t.Helper()
		_, err := f.db.WriteFires(context.Background(), t0, func(tx engine.FireTx) error {
			return tx.ApplyEffects(&domain.BatchEffects{Tags: map[string][]string{"c000": tags}, Tiers: map[string]string{}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write([]string{"a"})
	write([]string{"a", "b"})
	if err := f.db.FoldChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	write([]string{"b"})
	if got := f.pondCustomer("c000").Tags(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("tags %v, want [b]", got)
	}
	if err := f.db.FoldChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.pondCustomer("c000").Tags(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("tags after folding %v, want [b]", got)
	}
}

// Replacing a customer (PUT, import) is the whole truth about them: their
// pending changes go, and so do a deleted customer's.
func TestReplacingOrDeletingACustomerDropsTheirChanges(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("up", tagAndTier)
	f.run(f.engine(), t0, false)
	if _, err := f.db.PutCustomers(context.Background(), []domain.Customer{{ID: "c001", Tier: "normal", Tags: []string{"by-hand"}, JoinedAt: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	c, err := f.db.GetCustomer(context.Background(), "c001")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tier != "normal" || !slices.Equal(c.Tags, []string{"by-hand"}) {
		t.Errorf("after PUT: tier %q tags %v, want normal [by-hand]", c.Tier, c.Tags)
	}
	if _, err := f.db.DeleteCustomer(context.Background(), "c002"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM customer_changes WHERE customer_id IN ('c001', 'c002')`); n != 0 {
		t.Errorf("%d changes of replaced or deleted customers left", n)
	}
	if p := f.pondCustomer("c000"); !slices.Equal(p.Tags(), []string{"seen"}) {
		t.Errorf("c000 tags %v, want [seen]: someone else's changes went too", p.Tags())
	}
}

package sqlite_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// The engine keeps the pond in memory. These tests pin down that it stays
// exact: it follows writes by other processes (here, a second handle on the
// same file), and it never trusts memory over the database when someone
// else wrote in between.

// loadCounter counts "pond loaded" debug messages.
type loadCounter struct{ n atomic.Int64 }

func (c *loadCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *loadCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "pond loaded" {
		c.n.Add(1)
	}
	return nil
}
func (c *loadCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *loadCounter) WithGroup(string) slog.Handler      { return c }

func (f *fixture) otherWriter() *sqlite.DB {
	f.t.Helper()
	db, err := sqlite.Open(context.Background(), f.path())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

func (f *fixture) path() string {
	f.t.Helper()
	var seq int
	var name, file string
	if err := f.db.SQL().QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		f.t.Fatal(err)
	}
	return file
}

const tagEveryone = `
name: tag-all
limits: { max_fires: 10000 }
rules:
  - id: tag
    when: "true"
    once: true
    actions:
      - tag: { add: [seen] }
`

func TestOwnWritesDoNotReloadThePond(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 10)
	f.playbook("tag-all", tagEveryone)
	var loads loadCounter
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 7, Logger: slog.New(&loads)})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	if r := f.run(e, t0, false); r.Fired != 20 {
		t.Fatalf("first run fired %d, want 20", r.Fired)
	}
	if _, err := e.AddEvents(context.Background(), []domain.Event{{ID: "late", CustomerID: "c015", Type: "order", At: t0, AmountFen: 100}}); err != nil {
		t.Fatal(err)
	}
	if r := f.run(e, t0.Add(day), false); r.Fired != 0 {
		t.Errorf("second run fired %d, want 0 (once)", r.Fired)
	}
	if n := loads.n.Load(); n != 1 {
		t.Errorf("the pond was loaded %d times, want once: the engine's own writes must keep it current", n)
	}
}

func TestPondFollowsAnotherWriter(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	f.playbook("gold", `
name: gold
limits: { max_fires: 10000 }
rules:
  - id: gold-buyers
    when: tier == "gold" && orders == 1
    once: true
    actions:
      - tag: { add: [gold-buyer] }
`)
	e := f.engine()
	if r := f.run(e, t0, false); r.Fired != 0 {
		t.Fatalf("fired %d before anyone is gold", r.Fired)
	}
	other := f.otherWriter()
	c, err := other.GetCustomer(context.Background(), "c002")
	if err != nil {
		t.Fatal(err)
	}
	c.Tier = "gold"
	if _, err := other.PutCustomers(context.Background(), []domain.Customer{*c}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddEvents(context.Background(), []domain.Event{{ID: "o1", CustomerID: "c002", Type: "order", At: t0, AmountFen: 100}}, nil); err != nil {
		t.Fatal(err)
	}
	r := f.run(e, t0.Add(day), false)
	if r.Fired != 1 {
		t.Errorf("fired %d after another process made c002 a gold buyer, want 1", r.Fired)
	}
}

func TestAnotherWriterMidRunIsNotOverwritten(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	f.playbook("tag-all", tagEveryone)
	other := f.otherWriter()
	e := engine.New(f.db, f.reg, engine.Config{
		Tiers: []string{"normal", "gold", "vip"}, BatchSize: 1,
		// After the first fire commits, another process tags c003: the
		// engine's pond no longer matches the database, and the tag action
		// for c003 must build on the stored tags, not on memory.
		AfterBatch: func(_ string, written int) {
			if written != 1 {
				return
			}
			c, err := other.GetCustomer(context.Background(), "c003")
			if err != nil {
				t.Error(err)
				return
			}
			c.Tags = []string{"vip-by-hand"}
			if _, err := other.PutCustomers(context.Background(), []domain.Customer{*c}, t0); err != nil {
				t.Error(err)
			}
		},
	})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	if r := f.run(e, t0, false); r.Fired != 4 {
		t.Fatalf("fired %d, want 4", r.Fired)
	}
	c, err := f.db.GetCustomer(context.Background(), "c003")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Tags, []string{"vip-by-hand", "seen"}) {
		t.Errorf("c003 tags = %v, want [vip-by-hand seen]: the run overwrote another writer's change", c.Tags)
	}
	// And the engine noticed: its next run reloads and sees both tags.
	f.playbook("check", `
name: check
limits: { max_fires: 10000 }
rules:
  - id: both
    when: has_tag("vip-by-hand") && has_tag("seen")
    once: true
    actions:
      - tag: { add: [checked] }
`)
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(context.Background(), engine.RunRequest{At: t0.Add(day), Playbooks: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].Fired != 1 {
		t.Errorf("check fired %d, want 1 (%s)", runs[0].Fired, strings.Join(c.Tags, ","))
	}
}

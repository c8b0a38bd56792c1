package sqlite_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// assign_guide through the engine and the store: least loaded across
// batches, kept guides, tasks written with the fire and counted as load,
// nothing twice on a re-run, and the new guide visible to later playbooks,
// to reads and after a fold.
func TestAssignGuideBalancesAndCreatesTasksOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(9, 0)
	// c000 already has g2, who is at capacity; they keep g2.
	c0, err := f.db.GetCustomer(ctx, "c000")
	if err != nil {
		t.Fatal(err)
	}
	c0.Guide = "g2"
	if err := f.db.UpsertCustomers(ctx, []domain.Customer{*c0}, t0); err != nil {
		t.Fatal(err)
	}
	f.playbook("a-assign", `
name: a-assign
limits: { max_fires: 10000 }
rules:
  - id: welcome
    when: "true"
    once: true
    actions:
      - assign_guide: { task: "欢迎回访 {{.name}}{{.id}}", due_in: 2d }
`)
	f.playbook("b-after", `
name: b-after
limits: { max_fires: 10000 }
rules:
  - id: seen
    when: guide != ""
    once: true
    actions:
      - tag: { add: [has_guide] }
`)
	guides := []actions.Guide{{ID: "g1", Capacity: 4}, {ID: "g2", Capacity: 1}, {ID: "g3", Capacity: 10}}
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 4, Guides: guides})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].Fired != 9 || runs[1].Fired != 9 {
		t.Fatalf("assign fired %d, after fired %d; want 9 and 9: %+v", runs[0].Fired, runs[1].Fired, runs[0].Rules[0])
	}
	load, err := f.db.GuideLoad(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// g2 holds c000's task (kept guide, over capacity is allowed for their
	// own customer); the other 8 split between g1 (cap 4) and g3: least
	// loaded alternates g1, g3 until g1 is full.
	if load["g1"] != 4 || load["g2"] != 1 || load["g3"] != 4 {
		t.Errorf("loads %v, want g1 4, g2 1, g3 4", load)
	}
	c0, _ = f.db.GetCustomer(ctx, "c000")
	c1, _ := f.db.GetCustomer(ctx, "c001")
	if c0.Guide != "g2" || c1.Guide != "g1" {
		t.Errorf("guides: c000 %q c001 %q", c0.Guide, c1.Guide)
	}
	tasks, err := f.db.ListTasks(ctx, domain.TaskFilter{Guide: "g1"})
	if err != nil || len(tasks) != 4 {
		t.Fatalf("g1 tasks %d, %v", len(tasks), err)
	}
	if tk := tasks[0]; tk.CustomerID != "c001" || tk.Note != "欢迎回访 c001" || !tk.DueAt.Equal(t0.Add(48*time.Hour)) || tk.State != domain.TaskOpen || tk.FireID == 0 {
		t.Errorf("task %+v", tk)
	}

	// A re-run fires nothing (once) and creates no task; completing one
	// frees room that least_loaded sees.
	if _, err := e.Run(ctx, engine.RunRequest{At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM tasks`); n != 9 {
		t.Errorf("%d tasks after a re-run, want 9", n)
	}
	done, err := f.db.CompleteTask(ctx, "g1", tasks[0].ID, t0.Add(2*time.Hour))
	if err != nil || done.State != domain.TaskDone || done.DoneAt.IsZero() {
		t.Fatalf("complete: %+v %v", done, err)
	}
	if _, err := f.db.CompleteTask(ctx, "g1", tasks[0].ID, t0); domain.ErrorCode(err) != domain.EConflict {
		t.Errorf("completing twice: %v", err)
	}
	if _, err := f.db.CompleteTask(ctx, "g3", tasks[1].ID, t0); domain.ErrorCode(err) != domain.ENotFound {
		t.Errorf("another guide's task: %v", err)
	}
	if open, _ := f.db.ListTasks(ctx, domain.TaskFilter{Guide: "g1", State: domain.TaskOpen}); len(open) != 3 {
		t.Errorf("g1 open tasks %d, want 3", len(open))
	}

	// The guide survives folding the change log into the rows, and a
	// deleted customer takes their tasks along.
	if err := f.db.FoldChanges(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM customers WHERE guide = 'g3'`); n != 4 {
		t.Errorf("%d customers with g3 in their rows after a fold, want 4", n)
	}
	if _, err := f.db.DeleteCustomer(ctx, "c001"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM tasks WHERE customer_id = 'c001'`); n != 0 {
		t.Errorf("%d tasks of a deleted customer", n)
	}
}

// When every guide is full, the fire fails and nothing of it is written;
// the next run tries the customer again.
func TestAssignGuideWhenEveryGuideIsFull(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(3, 0)
	f.playbook("assign", `
name: assign
limits: { max_fires: 10000 }
rules:
  - id: welcome
    when: "true"
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
      - assign_guide: { strategy: round_robin, task: "回访" }
`)
	e := engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal"}, Guides: []actions.Guide{{ID: "g1", Capacity: 2}}})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	run := f.run(e, t0, false)
	if run.Fired != 2 || f.count(`SELECT count(*) FROM coupons`) != 2 || f.count(`SELECT count(*) FROM tasks`) != 2 {
		t.Fatalf("fired %d, coupons %d, tasks %d; want 2 each", run.Fired, f.count(`SELECT count(*) FROM coupons`), f.count(`SELECT count(*) FROM tasks`))
	}
	if len(run.Rules) != 1 || run.Rules[0].Errors != 1 || !strings.Contains(run.Rules[0].FirstError, "at capacity") {
		t.Errorf("rule counts %+v, want one failed fire", run.Rules)
	}
	c2, _ := f.db.GetCustomer(ctx, "c002")
	if c2.Guide != "" {
		t.Errorf("c002 got guide %q", c2.Guide)
	}
}

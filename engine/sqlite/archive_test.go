package sqlite_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
)

// fireReads is everything the store answers about fires, to compare
// before and after fires move to the archive.
type fireReads struct {
	runs     map[int64][]domain.Fire
	customer []domain.Fire
	marks    map[evaluate.FireRef]evaluate.FireMark
	history  []string
}

func readFires(t *testing.T, f *fixture, runs []*engine.Run) fireReads {
	t.Helper()
	ctx := context.Background()
	out := fireReads{runs: map[int64][]domain.Fire{}}
	for _, r := range runs {
		fs, err := f.db.RunFires(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		out.runs[r.ID] = fs
	}
	var err error
	if out.customer, err = f.db.CustomerFires(ctx, "c001"); err != nil {
		t.Fatal(err)
	}
	m, err := f.db.FireMarks(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	out.marks = m.Rules
	err = f.db.FireHistory(ctx, func(ref evaluate.RuleRef, cust []byte, seq int, at int64, group string, gseq int) {
		out.history = append(out.history, fmt.Sprint(ref, string(cust), seq, at, group, gseq))
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out.history)
	return out
}

// Fires written more than a day ago move to fires_archive; every read
// answers as before, and later runs go on from them: cooldown and once
// hold, and fire ids keep growing.
func TestArchivedFiresReadAsBefore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(30, 30)
	f.playbook("a", onceAndCooldown)
	e := f.engine()
	runs, err := e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil {
		t.Fatal(err)
	}
	later, err := e.Run(ctx, engine.RunRequest{At: t0.Add(2 * day)})
	if err != nil {
		t.Fatal(err)
	}
	runs = append(runs, later...)
	total := f.count(`SELECT count(*) FROM fires`)
	if total != 90 {
		t.Fatalf("%d fires, want 90 (30 once, 30 twice by cooldown)", total)
	}
	before := readFires(t, f, runs)

	// Only fires written before the time given move: none were an hour ago.
	if n, err := f.db.ArchiveFires(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("archived %d fires written before an hour ago (%v), want 0", n, err)
	}
	if n, err := f.db.ArchiveFires(ctx, time.Now().Add(time.Hour)); err != nil || n != total {
		t.Fatalf("archived %d fires (%v), want %d", n, err, total)
	}
	if r, a := f.count(`SELECT count(*) FROM fires_recent`), f.count(`SELECT count(*) FROM fires_archive`); r != 0 || a != total {
		t.Fatalf("recent %d, archive %d; want 0, %d", r, a, total)
	}
	after := readFires(t, f, runs)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("reads changed by archiving:\nbefore %+v\nafter  %+v", before, after)
	}

	// A process that starts now reads its history from the archive: once
	// holds, the cooldown of day 2 holds on day 2, and a new fire's id
	// follows the archived ones.
	again := f.engine()
	r := f.run(again, t0.Add(2*day+time.Hour), false)
	if r.Fired != 0 {
		t.Errorf("a run an hour after the last fired %d, want 0 (once and cooldown)", r.Fired)
	}
	r = f.run(again, t0.Add(4*day), false)
	if r.Fired != 30 || r.Rules[1].Fired != 30 {
		t.Errorf("a run two days later fired %d (%+v), want the 30 of rule two", r.Fired, r.Rules)
	}
	if lo, hi := f.count(`SELECT min(id) FROM fires_recent`), f.count(`SELECT max(id) FROM fires_archive`); lo <= hi {
		t.Errorf("new fire ids start at %d, the archive's end at %d", lo, hi)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'two' AND customer_id = 'c001' AND seq = 3`); n != 1 {
		t.Errorf("rule two's third fire of c001: %d rows, want 1", n)
	}

	// Deleting a customer deletes its fires from both tables.
	if err := again.DeleteCustomer(ctx, "c001"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE customer_id = 'c001'`); n != 0 {
		t.Errorf("%d fires of a deleted customer left", n)
	}
}

// A held run approved after the fires another run wrote meanwhile moved
// to the archive, where no unique key of fires_recent compares with
// them, still fires nothing twice: the approval checks what it releases
// against the fire history as of then.
func TestApprovalAfterArchiveFiresNothingTwice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(12, 0)
	f.playbook("guarded", guarded)
	held := f.policyEngine(``)
	r := f.run(held, t0, false)
	if r.Status != engine.RunHeld {
		t.Fatalf("run %s, want held", r.Status)
	}
	// Another process's copy of the playbook has no blast guard: it
	// fires the same once rule for every member meanwhile.
	f.playbook("guarded", `
name: guarded
rules:
  - id: gift
    when: member
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
`)
	other := f.engine()
	if r := f.run(other, t0.Add(time.Hour), false); r.Fired != 12 {
		t.Fatalf("the other run fired %d, want 12", r.Fired)
	}
	if n, err := f.db.ArchiveFires(ctx, time.Now().Add(time.Hour)); err != nil || n != 12 {
		t.Fatalf("archived %d (%v), want 12", n, err)
	}
	r, err := held.Approve(ctx, r.ID, "alice", t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Fired != 0 || r.Rules[0].Suppressed[evaluate.ReasonOnce] != 12 {
		t.Errorf("approval fired %d, suppressed %v; want 0 and 12 once", r.Fired, r.Rules[0].Suppressed)
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'gift'`); n != 12 {
		t.Errorf("%d gift fires, want 12", n)
	}
	if n := f.count(`SELECT count(*) FROM coupons`); n != 12 {
		t.Errorf("%d coupons, want 12", n)
	}
}

// Archiving while runs write loses and doubles nothing: each chunk moves
// under the write lock, between the runs' batches.
func TestArchivingDuringRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.customers(60, 60)
	f.playbook("a", onceAndCooldown)
	e := f.engine()
	done := make(chan struct{})
	moved := make(chan int)
	go func() {
		total := 0
		for {
			n, err := f.db.ArchiveFires(ctx, time.Now().Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			total += n
			select {
			case <-done:
				moved <- total
				return
			default:
			}
		}
	}()
	fired := 0
	for d := range 10 {
		fired += f.run(e, t0.Add(time.Duration(2*d)*day), false).Fired
	}
	close(done)
	archived := <-moved
	if fired != 60+10*60 {
		t.Errorf("runs fired %d, want %d", fired, 60+10*60)
	}
	if n := f.count(`SELECT count(*) FROM fires`); n != fired {
		t.Errorf("%d fires stored, %d fired", n, fired)
	}
	if n := f.count(`SELECT count(*) FROM (SELECT DISTINCT playbook, rule, customer_id, seq FROM fires)`); n != fired {
		t.Errorf("%d distinct fire keys, %d fires", n, fired)
	}
	if archived == 0 || f.count(`SELECT count(*) FROM fires_archive`) < archived {
		t.Errorf("archived %d while the runs wrote", archived)
	}
}

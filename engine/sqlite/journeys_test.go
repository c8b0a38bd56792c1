package sqlite_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// entered is customer's entry number entry into journey sop at at, with
// step first due after.
func entered(customer string, entry int, at time.Time, first string, after time.Duration) domain.JourneyState {
	return domain.JourneyState{Journey: "sop", CustomerID: customer, Entry: entry, EnteredAt: at, Hash: "h1",
		NextStep: first, DueAt: at.Add(after), Status: domain.JourneyEntered}
}

// enterOne enters one customer (FireTx.EnterJourneys).
func enterOne(tx engine.FireTx, st domain.JourneyState) (bool, error) {
	ok, err := tx.EnterJourneys([]domain.JourneyState{st})
	if err != nil {
		return false, err
	}
	return ok[0], nil
}

// advanceOne moves one customer's journey (FireTx.AdvanceJourneys).
func advanceOne(tx engine.FireTx, journey, customer string, entry int, from string, next domain.JourneyState) (bool, error) {
	ok, err := tx.AdvanceJourneys([]domain.JourneyMove{{Journey: journey, CustomerID: customer, Entry: entry, From: from, Next: next}})
	if err != nil {
		return false, err
	}
	return ok[0], nil
}

// journeyTx runs fn in a write transaction of db and returns its answer.
func journeyTx(t *testing.T, db *sqlite.DB, fn func(tx engine.FireTx) (bool, error)) bool {
	t.Helper()
	var ok bool
	if _, err := db.WriteFires(context.Background(), t0, func(tx engine.FireTx) error {
		var err error
		ok, err = fn(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ok
}

// A customer's journey state moves only forward: an entry is recorded
// once and only while they are not in the journey, a step is left only
// from that step of that entry, and a new entry follows the last.
func TestJourneyStateMovesOnlyForward(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	ctx := context.Background()
	enter := func(st domain.JourneyState) bool {
		return journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) { return enterOne(tx, st) })
	}
	advance := func(customer string, entry int, from string, next domain.JourneyState) bool {
		return journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) {
			return advanceOne(tx, "sop", customer, entry, from, next)
		})
	}
	if !enter(entered("c000", 1, t0, "welcome", 0)) {
		t.Fatal("the first entry was refused")
	}
	if enter(entered("c000", 1, t0.Add(time.Hour), "welcome", 0)) || enter(entered("c000", 2, t0.Add(time.Hour), "welcome", 0)) {
		t.Error("a customer in the journey entered it again")
	}
	if advance("c000", 1, "invite", domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: t0}) ||
		advance("c000", 2, "welcome", domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: t0}) {
		t.Error("a journey moved from a step or an entry it is not at")
	}
	if !advance("c000", 1, "welcome", domain.JourneyState{Status: domain.JourneyEntered, NextStep: "invite", DueAt: t0.Add(24 * time.Hour)}) {
		t.Fatal("welcome -> invite refused")
	}
	if advance("c000", 1, "welcome", domain.JourneyState{Status: domain.JourneyEntered, NextStep: "invite", DueAt: t0.Add(24 * time.Hour)}) {
		t.Error("the same step was left twice")
	}
	if !advance("c000", 1, "invite", domain.JourneyState{Status: domain.JourneyExited, EndedAt: t0.Add(30 * time.Hour)}) {
		t.Fatal("exit refused")
	}
	if enter(entered("c000", 3, t0.Add(40*time.Hour), "welcome", 0)) {
		t.Error("an entry skipped a number")
	}
	if !enter(entered("c000", 2, t0.Add(40*time.Hour), "welcome", 0)) {
		t.Fatal("the second entry after the first ended was refused")
	}
	if enter(entered("c000", 2, t0.Add(41*time.Hour), "welcome", 0)) {
		t.Error("the second entry was recorded twice")
	}
	got, err := f.db.CustomerJourneys(ctx, "c000")
	if err != nil {
		t.Fatal(err)
	}
	// The customer's entries: the first, exited, and the second, where
	// they are now.
	first := entered("c000", 1, t0, "", 0)
	first.DueAt, first.Status, first.EndedAt = time.Time{}, domain.JourneyExited, t0.Add(30*time.Hour)
	want := []domain.JourneyState{first, entered("c000", 2, t0.Add(40*time.Hour), "welcome", 0)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("state %+v\nwant %+v", got, want)
	}
}

// Due steps come earliest first, only those due by the moment asked, only
// of customers in the journey, at most limit; a deleted customer's state
// goes with them.
func TestDueJourneySteps(t *testing.T) {
	f := newFixture(t)
	f.customers(4, 0)
	ctx := context.Background()
	for _, st := range []domain.JourneyState{
		entered("c000", 1, t0, "invite", 24*time.Hour),
		entered("c001", 1, t0, "welcome", 0),
		entered("c002", 1, t0, "later", 72*time.Hour),
		entered("c003", 1, t0, "welcome", time.Hour),
	} {
		if !journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) { return enterOne(tx, st) }) {
			t.Fatalf("entry of %s refused", st.CustomerID)
		}
	}
	journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) {
		return advanceOne(tx, "sop", "c003", 1, "welcome", domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: t0.Add(time.Hour)})
	})
	ids := func(at time.Time, limit int) []string {
		t.Helper()
		sts, err := f.db.DueJourneySteps(ctx, "sop", at, domain.DueCursor{}, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range sts {
			out = append(out, st.CustomerID+"/"+st.NextStep)
		}
		return out
	}
	if got := ids(t0.Add(24*time.Hour), 10); !reflect.DeepEqual(got, []string{"c001/welcome", "c000/invite"}) {
		t.Errorf("due by a day: %v", got)
	}
	if got := ids(t0.Add(100*time.Hour), 2); !reflect.DeepEqual(got, []string{"c001/welcome", "c000/invite"}) {
		t.Errorf("due by 100 h, at most 2: %v", got)
	}
	if got := ids(t0.Add(-time.Minute), 10); got != nil {
		t.Errorf("due before any: %v", got)
	}
	if _, err := f.db.DeleteCustomer(ctx, "c001"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM journey_state WHERE customer_id = 'c001'`); n != 0 {
		t.Errorf("the deleted customer's journey state is still there (%d rows)", n)
	}
}

// Two processes racing for the same step: each inserts the step's fire
// and moves the state past the step in one transaction; exactly one of
// them does, and the other writes nothing.
func TestRacingProcessesTakeAStepOnce(t *testing.T) {
	f := newFixture(t)
	f.customers(1, 0)
	if !journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) { return enterOne(tx, entered("c000", 1, t0, "welcome", 0)) }) {
		t.Fatal("entry refused")
	}
	dbs := []*sqlite.DB{f.db, f.otherWriter(), f.otherWriter()}
	var wg sync.WaitGroup
	took := make([]bool, len(dbs))
	start := make(chan struct{})
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			_, err := db.WriteFires(context.Background(), t0, func(tx engine.FireTx) error {
				// Both guards on their own: the fire's key refuses the
				// second fire, and the state refuses to move twice.
				if _, err := tx.InsertFires([]*domain.Fire{{RunID: int64(i + 1), Playbook: "sop", Rule: "welcome", CustomerID: "c000", Seq: 1, Status: domain.FireFired, At: t0}}); err != nil {
					return err
				}
				ok, err := advanceOne(tx, "sop", "c000", 1, "welcome", domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: t0})
				took[i] = ok
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	n := 0
	for _, ok := range took {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d processes took the step, want 1", n)
	}
	if fires := f.count(`SELECT count(*) FROM fires WHERE playbook = 'sop' AND rule = 'welcome'`); fires != 1 {
		t.Errorf("%d fires of the step", fires)
	}
}

// A batch answers for each of its items, across the statements it takes
// (500 rows each): entries and moves refused amid accepted ones.
func TestJourneyBatchesAnswerEachItem(t *testing.T) {
	f := newFixture(t)
	const n = 1100
	var sts []domain.JourneyState
	for i := range n {
		sts = append(sts, entered(fmt.Sprintf("x%04d", i), 1, t0, "welcome", 0))
	}
	var ok []bool
	journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) {
		var err error
		ok, err = tx.EnterJourneys(sts)
		return true, err
	})
	if slices.Contains(ok, false) {
		t.Fatalf("a first entry was refused: %d of %d", countTrue(ok), n)
	}
	var moves []domain.JourneyMove
	for i, st := range sts {
		from := "welcome"
		if i%3 == 0 {
			from = "elsewhere" // not where it is: refused
		}
		moves = append(moves, domain.JourneyMove{Journey: "sop", CustomerID: st.CustomerID, Entry: 1, From: from,
			Next: domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: t0.Add(time.Hour)}})
	}
	journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) {
		var err error
		ok, err = tx.AdvanceJourneys(moves)
		return true, err
	})
	for i, moved := range ok {
		if moved != (i%3 != 0) {
			t.Fatalf("move %d (%s from %s): %v", i, moves[i].CustomerID, moves[i].From, moved)
		}
	}
	// Entry 2: only those whose journey ended may enter again.
	for i := range sts {
		sts[i].Entry = 2
	}
	journeyTx(t, f.db, func(tx engine.FireTx) (bool, error) {
		var err error
		ok, err = tx.EnterJourneys(sts)
		return true, err
	})
	for i, entered := range ok {
		if entered != (i%3 != 0) {
			t.Fatalf("second entry %d: %v", i, entered)
		}
	}
	if got := f.count(`SELECT count(*) FROM journey_state WHERE entry = 2 AND status = 'entered'`); got != countTrue(ok) {
		t.Errorf("%d second entries stored, %d reported", got, countTrue(ok))
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

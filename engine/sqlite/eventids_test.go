package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// ingestRandom adds n events in batches of batch, a third of them repeating
// an id sent before (in an earlier batch or the same one), and checks each
// reported fate against seen, which it updates.
func ingestRandom(t *testing.T, db *sqlite.DB, rng *rand.Rand, seen map[string]bool, n, batch, customers int) {
	t.Helper()
	ctx := context.Background()
	var sent []string
	for id := range seen {
		sent = append(sent, id)
	}
	for done := 0; done < n; done += batch {
		evs := make([]domain.Event, 0, batch)
		for len(evs) < batch {
			id := fmt.Sprintf("e-%08x", rng.Uint32())
			if len(sent) > 0 && rng.IntN(3) == 0 {
				id = sent[rng.IntN(len(sent))]
			}
			sent = append(sent, id)
			evs = append(evs, domain.Event{ID: id, CustomerID: fmt.Sprintf("c%03d", rng.IntN(customers)), Type: "visit", At: t0})
		}
		res, err := db.AddEvents(ctx, evs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			if want := !seen[e.ID]; res.Inserted[i] != want {
				t.Fatalf("event %s: inserted %v, want %v", e.ID, res.Inserted[i], want)
			}
			seen[e.ID] = true
		}
	}
}

// Ids stay unique while the tail is flushed into runs and runs are merged,
// level upon level, and after the database is opened again.
func TestEventIDsStayUniqueThroughRunsAndMerges(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 0)
	ctx := context.Background()
	sqlite.SetEventIDThresholds(f.db, 8, 2, 5)
	sqlite.SetEventIDCover(f.db, 16, 100) // built, filled and rebuilt meanwhile
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for round := 0; round < 40; round++ {
		ingestRandom(t, f.db, rng, seen, 30, 10, 20)
		if round%3 == 0 {
			if err := f.db.CompactEventIDs(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	runs, err := sqlite.EventIDRuns(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	var inRuns int64
	for _, n := range runs {
		inRuns += n
	}
	t.Logf("runs: %v", runs)
	// 1,200 events, a third of them repeats: about 800 ids. Runs of 8,
	// merged in pairs, leave about log2(800/8) runs, one per level; fewer
	// when the background compactor, on its own clock, merged further
	// (down to one run: seen under -race on a loaded machine).
	if len(runs) < 1 || len(runs) > 12 || inRuns < 700 {
		t.Fatalf("runs %v: want a few, merged, holding most of the %d ids", runs, len(seen))
	}
	if _, n, _ := f.db.Counts(ctx); n != len(seen) {
		t.Fatalf("%d events stored, %d distinct ids sent", n, len(seen))
	}

	// Opened again, the filters come from the database and the tail from
	// the events: every id is still known.
	path := filepath.Join(t.TempDir(), "copy.db")
	if _, err := f.db.SQL().ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		t.Fatal(err)
	}
	db2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := sqlite.CheckEventIDs(ctx, db2, false); err != nil {
		t.Fatal(err)
	}
	ingestRandom(t, db2, rng, seen, 200, 20, 20)
}

// A lookup that a run's filter lets through reads the run: a false
// positive of the filter costs a read, never an event.
func TestEventIDFilterFalsePositivesReadTheRun(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	ctx := context.Background()
	sqlite.SetEventIDThresholds(f.db, 4, 4, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]bool{}
	ingestRandom(t, f.db, rng, seen, 40, 4, 5)
	if err := f.db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	sqlite.SaturateEventIDFilters(f.db)
	ingestRandom(t, f.db, rng, seen, 40, 4, 5)
	if err := f.db.CompactEventIDs(ctx); err != nil { // waits for the compactor
		t.Fatal(err)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
}

// Two handles on one database, as two processes would have: each sees the
// other's events, and the runs the other's compactor writes. Only one of
// them compacts: the lock is held by the first to try.
func TestEventIDsAcrossHandles(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	ctx := context.Background()
	a := f.db
	if err := a.CompactEventIDs(ctx); err != nil { // a takes the lock
		t.Fatal(err)
	}
	b, err := sqlite.Open(ctx, f.path())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sqlite.SetEventIDThresholds(a, 5, 2, 0)
	sqlite.SetEventIDThresholds(b, 5, 2, 0)
	sqlite.SetEventIDCover(a, 16, 20)
	sqlite.SetEventIDCover(b, 16, 20) // b's cover never holds the runs a flushes unless rebuilt
	rng := rand.New(rand.NewPCG(5, 6))
	seen := map[string]bool{}
	for round := 0; round < 12; round++ {
		ingestRandom(t, a, rng, seen, 10, 5, 5)
		ingestRandom(t, b, rng, seen, 10, 5, 5)
		if err := b.CompactEventIDs(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.CompactEventIDs(ctx); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := sqlite.EventIDRuns(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 {
		t.Fatal("no runs: a did not compact")
	}
	for _, db := range []*sqlite.DB{a, b} {
		if err := sqlite.CheckEventIDs(ctx, db, true); err != nil {
			t.Fatal(err)
		}
	}
}

// A run whose build a crash cut short is a table no run row names; the
// next holder of the compaction lock drops it.
func TestUnfinishedRunsAreDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "koi.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	sqlite.SetEventIDThresholds(db, 4, 4, 0)
	if err := db.UpsertCustomers(ctx, []domain.Customer{{ID: "c000", Tier: "normal"}}, t0); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ingestRandom(t, db, rand.New(rand.NewPCG(7, 8)), seen, 12, 4, 1)
	if err := db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE event_ids_999 (id TEXT PRIMARY KEY) WITHOUT ROWID;
		INSERT INTO event_ids_999 VALUES ('half-built')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.CheckEventIDs(ctx, db, true); err != nil {
		t.Fatal(err)
	}
	ingestRandom(t, db, rand.New(rand.NewPCG(9, 10)), seen, 12, 4, 1)
}

// A merge made void by ids forgotten meanwhile (a customer deleted while
// it copied) drops its table and leaves the runs as they were. It used to
// drop the table while its own transaction still held the write slot:
// the compactor waited for itself, and every write after it waited too.
func TestVoidMergeLetsWritesGoOn(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	ctx := context.Background()
	// Two runs, the newer the larger, not merged yet (fan-in 1000).
	sqlite.SetEventIDThresholds(f.db, 1<<20, 1000, 3)
	rng := rand.New(rand.NewPCG(9, 10))
	seen := map[string]bool{}
	for _, n := range []int{20, 60} {
		ingestRandom(t, f.db, rng, seen, n, 10, 4)
		sqlite.SetEventIDThresholds(f.db, 1, 1000, 3)
		if err := f.db.CompactEventIDs(ctx); err != nil {
			t.Fatal(err)
		}
		sqlite.SetEventIDThresholds(f.db, 1<<20, 1000, 3)
	}
	before, err := sqlite.EventIDRuns(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 2 {
		t.Fatalf("runs %v: want two to merge", before)
	}
	var deleted bool
	sqlite.AfterMergeChunk(f.db, func() {
		if !deleted {
			deleted = true
			if _, err := f.db.DeleteCustomer(ctx, "c003"); err != nil {
				t.Error(err)
			}
		}
	})
	sqlite.SetEventIDThresholds(f.db, 1<<20, 2, 3)
	done := make(chan error, 1)
	go func() { done <- f.db.CompactEventIDs(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("compaction did not finish: the void merge waits for its own write slot")
	}
	if !deleted {
		t.Fatal("no merge ran")
	}
	sqlite.AfterMergeChunk(f.db, nil)
	// The compaction went on to merge again, validly.
	if after, err := sqlite.EventIDRuns(ctx, f.db); err != nil || len(after) != 1 {
		t.Fatalf("runs %v after the merge, %v before (%v)", after, before, err)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
	// A deletion keeps the runs' counts true (merges and filters are sized
	// by them).
	if _, err := f.db.DeleteCustomer(ctx, "c002"); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
}

// The cover, one filter over the ids of many runs, holds every id of the
// runs it claims while runs are flushed, merged and forgotten from, and
// while it fills and is built again larger; a duplicate is refused
// whether its run is covered or not.
func TestEventIDCoverHoldsTheRunsItCovers(t *testing.T) {
	f := newFixture(t)
	f.customers(20, 0)
	ctx := context.Background()
	sqlite.SetEventIDThresholds(f.db, 8, 2, 5)
	sqlite.SetEventIDCover(f.db, 32, 50)
	rng := rand.New(rand.NewPCG(7, 8))
	seen := map[string]bool{}
	ingestRandom(t, f.db, rng, seen, 40, 10, 20)
	if _, _, _, built := sqlite.EventIDCover(f.db); built {
		t.Fatal("a cover was built before the process added 50 events")
	}
	ingestRandom(t, f.db, rng, seen, 40, 10, 20)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, _, _, built := sqlite.EventIDCover(f.db); built {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no cover built in the background after the process added 50 events")
		}
	}
	if err := f.db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.BuildEventIDCover(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	covered, runs, firstRoom, built := sqlite.EventIDCover(f.db)
	if !built || covered != runs || runs == 0 {
		t.Fatalf("after a build: %d of %d runs covered (built %v)", covered, runs, built)
	}
	customers := 20
	for round := 0; round < 30; round++ {
		ingestRandom(t, f.db, rng, seen, 30, 10, customers)
		if round == 10 {
			// Forgetting ids leaves them in the cover, a false positive
			// from then on; the ids are free again.
			if _, err := f.db.DeleteCustomer(ctx, "c019"); err != nil {
				t.Fatal(err)
			}
			customers = 19
			seen = storedEventIDs(t, f.db)
		}
		if err := f.db.CompactEventIDs(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	// The background builder has had its chances; build once more to be sure
	// the last flushes' ids are read into a cover sized for them.
	if err := sqlite.BuildEventIDCover(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	covered, runs, room, _ := sqlite.EventIDCover(f.db)
	t.Logf("%d of %d runs covered; room %d ids, first %d", covered, runs, room, firstRoom)
	if covered == 0 || room <= firstRoom {
		t.Fatalf("%d of %d runs covered, room %d (first %d): want covered runs and a larger cover", covered, runs, room, firstRoom)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
	// Every id sent is refused again, covered or not.
	var again []domain.Event
	for id := range seen {
		again = append(again, domain.Event{ID: id, CustomerID: "c001", Type: "visit", At: t0})
	}
	res, err := f.db.AddEvents(ctx, again, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range again {
		if res.Inserted[i] {
			t.Fatalf("%s was inserted a second time", e.ID)
		}
	}
}

// Deleting the customer of the newest events after their ids went into a
// run does not let a later event take a seq in that run's range: SQLite
// would give it the highest remaining rowid plus one, and the event would
// be in neither the tail nor a run, its id free to be taken twice.
func TestSeqsAfterRunsAreNotReused(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	ctx := context.Background()
	sqlite.SetEventIDThresholds(f.db, 1, 1000, 0)
	add := func(id, customer string) bool {
		t.Helper()
		res, err := f.db.AddEvents(ctx, []domain.Event{{ID: id, CustomerID: customer, Type: "visit", At: t0}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Inserted[0]
	}
	for i := range 10 {
		add(fmt.Sprintf("old-%d", i), "c000")
	}
	for i := range 5 {
		add(fmt.Sprintf("newest-%d", i), "c002")
	}
	if err := f.db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.DeleteCustomer(ctx, "c002"); err != nil {
		t.Fatal(err)
	}
	if !add("after", "c001") {
		t.Fatal("a new event was refused")
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, false); err != nil {
		t.Fatal(err)
	}
	if add("after", "c001") {
		t.Fatal("the same event was stored twice")
	}
	if err := f.db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
}

// Deleting the newest events while they are still in the tail (no run
// holds them) does not let the next event take a seq the trigger cursor
// has passed: it would never be answered. Found by a review.
func TestSeqsAfterTheTriggerCursorAreNotReused(t *testing.T) {
	f := newFixture(t)
	f.customers(3, 0)
	ctx := context.Background()
	ev := func(id, c string) domain.Event { return domain.Event{ID: id, CustomerID: c, Type: "visit", At: t0} }
	if _, err := f.db.AddEvents(ctx, []domain.Event{ev("a", "c000"), ev("b", "c002"), ev("c", "c002")}, nil); err != nil {
		t.Fatal(err)
	}
	cur, err := f.db.LatestEventSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetTriggerCursor(ctx, cur); err != nil { // triggers ran through the newest event
		t.Fatal(err)
	}
	if _, err := f.db.DeleteCustomer(ctx, "c002"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.AddEvents(ctx, []domain.Event{ev("new", "c001"), ev("newer", "c001")}, nil); err != nil {
		t.Fatal(err)
	}
	out, through, err := f.db.EventsAfter(ctx, cur, 100, []string{engine.AnyEventType})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("cursor %d: %d of the 2 new events after it (through %d)", cur, len(out), through)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, false); err != nil {
		t.Fatal(err)
	}
}

// storedEventIDs returns the ids of the events db holds.
func storedEventIDs(t *testing.T, db *sqlite.DB) map[string]bool {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT id FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return stored
}

// While ingest keeps flushing runs, a merge into a big run waits (small
// merges go on), and once ingest pauses the compactor makes it by itself,
// with nothing more added to kick it. Merging millions of ids held the
// write lock a chunk at a time for 10-15 s and cut ingest to a third.
func TestBigMergesWaitForIngestToPause(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	ctx := context.Background()
	// Runs of 4 ids; two of them merge into 8 at once, two of those
	// would make 16, more than the big merge of 8.
	sqlite.SetEventIDThresholds(f.db, 4, 2, 0)
	const quiet = 3 * time.Second
	sqlite.SetMergeWait(f.db, 8, quiet)
	var evs []domain.Event
	for i := range 32 {
		evs = append(evs, domain.Event{ID: fmt.Sprintf("e-%02d", i), CustomerID: "c001", Type: "visit", At: t0})
	}
	runs := func() []int64 {
		t.Helper()
		r, err := sqlite.EventIDRuns(ctx, f.db)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := time.Now()
	for i := 0; i < len(evs); i += 4 {
		if _, err := f.db.AddEvents(ctx, evs[i:i+4], nil); err != nil {
			t.Fatal(err)
		}
		// Each batch is flushed into a run of its own before the next.
		for stored := int64(0); stored != int64(i+4); {
			if time.Since(start) > quiet {
				t.Fatalf("runs %v: batch %d was not flushed", runs(), i/4)
			}
			stored = 0
			for _, n := range runs() {
				stored += n
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Every tail flushed and paired: four runs of 8, waiting.
	for !slices.Equal(runs(), []int64{8, 8, 8, 8}) {
		if time.Since(start) > quiet {
			t.Fatalf("runs %v %v after ingest: want four of 8, the big merges waiting", runs(), time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Then, with nothing more added, they merge: 8+8 into 16, twice, and
	// the two of 16 into 32.
	for !slices.Equal(runs(), []int64{32}) {
		if time.Since(start) > quiet+10*time.Second {
			t.Fatalf("runs %v: the merges that waited were never made", runs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
}

// A process that opens more runs than coverRunsAtOnce (merges waited for
// ingest to pause) builds its cover once it has added a few thousand
// events: testing every new id against each run's filter would cost more
// than the build. A few events (a small import) or a few runs wait, as
// before, for a quarter of a million.
func TestManyRunsAreCoveredAtOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		runs, events int
		built        bool
	}{{5, 1 << 14, false}, {30, 10, false}, {30, 1 << 14, true}} {
		path := filepath.Join(t.TempDir(), "koi.db")
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		(&fixture{t: t, db: db}).customers(3, 0)
		sqlite.SetEventIDThresholds(db, 1, 1000, 0) // a run per event, never merged
		for i := range tc.runs {
			if _, err := db.AddEvents(ctx, []domain.Event{{ID: fmt.Sprintf("e-%02d", i), CustomerID: "c001", Type: "visit", At: t0}}, nil); err != nil {
				t.Fatal(err)
			}
			if err := db.CompactEventIDs(ctx); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()

		// Another process compacts: this one keeps the runs it opens.
		release, err := sqlite.HoldCompactionLock(path)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		db, err = sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sqlite.SetEventIDCover(db, 16, 1<<30) // never by the count alone
		evs := make([]domain.Event, tc.events)
		for i := range evs {
			evs[i] = domain.Event{ID: fmt.Sprintf("new-%05d", i), CustomerID: "c001", Type: "visit", At: t0}
		}
		if _, err := db.AddEvents(ctx, evs, nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		if !tc.built {
			deadline = time.Now().Add(300 * time.Millisecond)
		}
		for {
			covered, runs, _, built := sqlite.EventIDCover(db)
			if built && !tc.built {
				t.Fatalf("%d runs, %d events: a cover was built", runs, tc.events)
			}
			if tc.built && built && runs == tc.runs && covered == runs {
				break
			}
			if time.Now().After(deadline) {
				if tc.built {
					t.Fatalf("%d runs, %d covered, built %v: want the cover built after %d events", runs, covered, built, tc.events)
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Ids stay unique while big merges always wait (ingest never pauses),
// runs pass maxRuns and are merged whatever their sizes, merges take runs
// before the newest, and customers are deleted in between (their ids
// forgotten, a merge under way made void).
func TestEventIDsStayUniqueWhileMergesWait(t *testing.T) {
	seeds, rounds := uint64(4), 120
	if raceOn {
		seeds, rounds = 1, 60
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f := newFixture(t)
			f.customers(10, 0)
			ctx := context.Background()
			sqlite.SetEventIDThresholds(f.db, 4, 2, 3)
			sqlite.SetMergeWait(f.db, 12, time.Hour) // always busy
			sqlite.SetMaxRuns(f.db, 6)
			sqlite.SetEventIDCover(f.db, 16, 30)
			rng := rand.New(rand.NewPCG(seed, 99))
			seen := map[string]bool{}
			for round := range rounds {
				ingestRandom(t, f.db, rng, seen, 1+rng.IntN(12), 1+rng.IntN(12), 10)
				if round%17 == 16 {
					c := fmt.Sprintf("c%03d", rng.IntN(10))
					if _, err := f.db.DeleteCustomer(ctx, c); err != nil {
						t.Fatal(err)
					}
					if err := f.db.UpsertCustomers(ctx, []domain.Customer{{ID: c, Tier: "normal"}}, t0); err != nil {
						t.Fatal(err)
					}
					seen = storedEventIDs(t, f.db)
				}
				if round%10 == 9 {
					if err := sqlite.CheckEventIDs(ctx, f.db, false); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
			}
			if err := f.db.CompactEventIDs(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sqlite.CheckEventIDs(ctx, f.db, true); err != nil {
				t.Fatal(err)
			}
			ingestRandom(t, f.db, rng, seen, 50, 7, 10)
		})
	}
}

// Two processes on one database, the one compacting holding its big
// merges back and then making them, both ingesting in turns: every id is
// refused the second time whichever process sees it, and the runs stay
// whole for both.
func TestEventIDsAcrossHandlesWhileMergesWait(t *testing.T) {
	f := newFixture(t)
	f.customers(5, 0)
	ctx := context.Background()
	a := f.db
	if err := a.CompactEventIDs(ctx); err != nil { // a holds the compaction lock
		t.Fatal(err)
	}
	sqlite.SetEventIDThresholds(a, 3, 2, 2)
	sqlite.SetMergeWait(a, 6, time.Hour)
	rng := rand.New(rand.NewPCG(11, 12))
	seen := map[string]bool{}
	ingestRandom(t, a, rng, seen, 60, 3, 5)
	b, err := sqlite.Open(ctx, f.path())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sqlite.SetEventIDThresholds(b, 3, 2, 2)
	for round := range 20 {
		ingestRandom(t, b, rng, seen, 6, 3, 5)
		ingestRandom(t, a, rng, seen, 6, 3, 5)
		if round == 10 {
			sqlite.SetMergeWait(a, 6, 0) // ingest "pauses": the held merges go
		}
	}
	if err := a.CompactEventIDs(ctx); err != nil { // the rest, and a settles
		t.Fatal(err)
	}
	for _, db := range []*sqlite.DB{a, b} {
		if err := sqlite.CheckEventIDs(ctx, db, false); err != nil {
			t.Fatal(err)
		}
	}
	ingestRandom(t, b, rng, seen, 30, 6, 5)
	ingestRandom(t, a, rng, seen, 30, 6, 5)
}

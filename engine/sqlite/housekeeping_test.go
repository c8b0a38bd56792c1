package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// Folding that began in a pause of the writing stops after the chunk
// under way once this process writes again, a commit or a writer waiting
// for the lock, and leaves the rest for the next pause; with nobody
// writing it folds everything.
func TestFoldingYieldsToWriting(t *testing.T) {
	f := newFixture(t)
	sqlite.StopHousekeeping(f.db)
	f.customers(12_000, 0) // three chunks of changes and a bit
	f.playbook("tag", `
name: tag
limits: { max_fires: 100% }
rules:
  - id: a
    when: "true"
    once: true
    actions: [{ tag: { add: [a] } }]
`)
	e := f.engine()
	if r := f.run(e, t0, false); r.Fired != 12_000 {
		t.Fatalf("fired %d", r.Fired)
	}
	pending := func() int { return f.count(`SELECT count(*) FROM customer_changes`) }
	ctx := context.Background()
	other := func(i int) domain.Customer {
		return domain.Customer{ID: fmt.Sprintf("x%d", i), Tier: "normal", JoinedAt: t0}
	}

	// A commit of other work after the first chunk.
	first := true
	yielded, err := sqlite.FoldWhileIdle(ctx, f.db, func() {
		if first {
			first = false
			if err := f.db.UpsertCustomers(ctx, []domain.Customer{other(1)}, t0); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil || !yielded {
		t.Fatalf("after a commit: yielded %v, %v", yielded, err)
	}
	if n := pending(); n != 12_000-5_000 {
		t.Errorf("%d changes pending after yielding to a commit, want 7000", n)
	}

	// A writer waiting for the lock after the next chunk.
	var stopWaiting func()
	first = true
	yielded, err = sqlite.FoldWhileIdle(ctx, f.db, func() {
		if first {
			first = false
			stopWaiting = sqlite.PretendWriterWaits(f.db)
		}
	})
	stopWaiting()
	if err != nil || !yielded {
		t.Fatalf("with a writer waiting: yielded %v, %v", yielded, err)
	}
	if n := pending(); n != 2_000 {
		t.Errorf("%d changes pending after yielding to a waiting writer, want 2000", n)
	}

	// Nobody writing: all of it.
	if yielded, err = sqlite.FoldWhileIdle(ctx, f.db, nil); err != nil || yielded {
		t.Fatalf("alone: yielded %v, %v", yielded, err)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d changes pending after folding alone", n)
	}
	if n := f.count(`SELECT count(*) FROM customers WHERE tags = '["a"]'`); n != 12_000 {
		t.Errorf("%d customers rows hold the tag, want 12000", n)
	}
}

// A writer blocked on this process's write lock is counted as waiting
// (what housekeeping yields to), and no longer once it has the lock.
func TestWritersWaitingForTheLockAreCounted(t *testing.T) {
	f := newFixture(t)
	sqlite.StopHousekeeping(f.db) // its own writes would wait too
	release := sqlite.TakeWriteSlot(f.db)
	done := make(chan error, 1)
	go func() {
		done <- f.db.UpsertCustomers(context.Background(), []domain.Customer{{ID: "w", Tier: "normal", JoinedAt: t0}}, t0)
	}()
	// (The database's own background writers may wait as well.)
	for deadline := time.Now().Add(10 * time.Second); sqlite.WritersWaiting(f.db) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			release()
			t.Fatal("no writer counted waiting")
		}
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); sqlite.WritersWaiting(f.db) != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers counted waiting with the lock free", sqlite.WritersWaiting(f.db))
		}
	}
}

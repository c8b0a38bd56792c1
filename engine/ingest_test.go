package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// groupStore is a Store whose AddEvents records each call's event ids,
// holds the first call until released, treats ids starting with "dup" as
// stored already, refuses items whose customer is "nobody", and fails a
// whole call that holds an event "poison".
type groupStore struct {
	Store
	mu      sync.Mutex
	calls   [][]string
	entered chan struct{}
	release chan struct{}
}

func (s *groupStore) AddEvents(ctx context.Context, evs []domain.Event, _ KnownCustomers) (domain.AddedEvents, error) {
	s.mu.Lock()
	first := len(s.calls) == 0
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	s.calls = append(s.calls, ids)
	s.mu.Unlock()
	if first {
		s.entered <- struct{}{}
		<-s.release
	}
	if err := ctx.Err(); err != nil {
		return domain.AddedEvents{}, err
	}
	res := domain.AddedEvents{Inserted: make([]bool, len(evs)), Version: 7}
	for i, e := range evs {
		switch {
		case e.ID == "poison":
			return domain.AddedEvents{}, errors.New("poisoned transaction")
		case e.CustomerID == "nobody":
			if res.ItemErrs == nil {
				res.ItemErrs = map[int]error{}
			}
			res.ItemErrs[i] = fmt.Errorf("no customer for %s", e.ID)
		default:
			res.Inserted[i] = len(e.ID) < 3 || e.ID[:3] != "dup"
		}
	}
	return res, nil
}

func batch(prefix string, ids ...string) []domain.Event {
	evs := make([]domain.Event, len(ids))
	for i, id := range ids {
		evs[i] = domain.Event{ID: id, CustomerID: prefix, Type: "visit"}
	}
	return evs
}

// Batches that arrive while one is written go into one transaction
// together; each caller gets its own events' results, a batch whose
// transaction fails is tried alone, and a caller that gives up does not
// cancel the others' events.
func TestConcurrentBatchesCommitTogether(t *testing.T) {
	st := &groupStore{entered: make(chan struct{}), release: make(chan struct{})}
	e := New(st, nil, Config{})

	type result struct {
		res domain.AddedEvents
		err error
	}
	results := make([]result, 5)
	var wg sync.WaitGroup
	add := func(k int, ctx context.Context, evs []domain.Event) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.AddEvents(ctx, evs)
			results[k] = result{res, err}
		}()
	}
	add(0, context.Background(), batch("c", "a1", "a2"))
	<-st.entered // the first batch is being written; the others queue
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	add(1, context.Background(), batch("c", "b1", "dup-b2", "b3"))
	add(2, cancelled, batch("nobody", "c1"))
	add(3, context.Background(), batch("c", "d1", "poison"))
	add(4, context.Background(), batch("c", "e1"))
	waitQueued(t, e, 4)
	close(st.release)
	wg.Wait()

	if len(st.calls) != 6 {
		t.Fatalf("store calls %v: want the first batch, the four after it together, then each of the four alone (the shared transaction failed)", st.calls)
	}
	if got := st.calls[1]; len(got) != 7 {
		t.Errorf("the shared transaction held %v, want the 7 events of the four batches", got)
	}
	want := map[int][]bool{0: {true, true}, 1: {true, false, true}, 2: {false}, 4: {true}}
	for k, ins := range want {
		r := results[k]
		if r.err != nil || !slices.Equal(r.res.Inserted, ins) || r.res.Version != 7 {
			t.Errorf("batch %d: %+v, %v; want inserted %v at version 7", k, r.res, r.err, ins)
		}
	}
	if err := results[2].res.ItemErrs[0]; err == nil || err.Error() != "no customer for c1" {
		t.Errorf("batch 2's item error is %v", err)
	}
	for _, k := range []int{0, 1, 4} {
		if len(results[k].res.ItemErrs) != 0 {
			t.Errorf("batch %d has item errors %v", k, results[k].res.ItemErrs)
		}
	}
	if results[3].err == nil {
		t.Error("the poisoned batch succeeded")
	}
}

// waitQueued waits until n batches wait in e's queue.
func waitQueued(t *testing.T, e *Engine, n int) {
	t.Helper()
	for range 5000 {
		e.ingest.mu.Lock()
		queued := len(e.ingest.pending)
		e.ingest.mu.Unlock()
		if queued == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d batches never queued", n)
}

// panicStore panics on its first AddEvents and stores every later batch.
type panicStore struct {
	Store
	calls atomic.Int32
}

func (s *panicStore) AddEvents(ctx context.Context, evs []domain.Event, _ KnownCustomers) (domain.AddedEvents, error) {
	if s.calls.Add(1) == 1 {
		panic("store failed")
	}
	return domain.AddedEvents{Inserted: make([]bool, len(evs)), Version: 1}, nil
}

// A write that panics (a server recovers from a handler's panic) leaves
// ingest working: the next batch is written, not queued forever.
func TestIngestSurvivesAPanickingWrite(t *testing.T) {
	e := New(&panicStore{}, nil, Config{})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the store's panic did not reach its caller")
			}
		}()
		_, _ = e.AddEvents(context.Background(), batch("c", "a1"))
	}()
	done := make(chan error, 1)
	go func() {
		_, err := e.AddEvents(context.Background(), batch("c", "b1"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the batch after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch after the panic was never written: the queue still waits for the writer that panicked")
	}
}

// gatePanicStore holds its first AddEvents until released and panics on
// its second.
type gatePanicStore struct {
	Store
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (s *gatePanicStore) AddEvents(ctx context.Context, evs []domain.Event, _ KnownCustomers) (domain.AddedEvents, error) {
	switch s.calls.Add(1) {
	case 1:
		s.entered <- struct{}{}
		<-s.release
	case 2:
		panic("store failed")
	}
	return domain.AddedEvents{Inserted: make([]bool, len(evs)), Version: 1}, nil
}

// When a shared write panics in one caller's goroutine, the others in its
// group get an error, not an empty success.
func TestPanickingGroupFailsItsOtherCallers(t *testing.T) {
	st := &gatePanicStore{entered: make(chan struct{}), release: make(chan struct{})}
	e := New(st, nil, Config{})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for k, id := range []string{"a1", "b1", "c1"} {
		if k == 1 {
			<-st.entered
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[k] = fmt.Errorf("panicked: %v", p)
				}
			}()
			_, errs[k] = e.AddEvents(context.Background(), batch("c", id))
		}()
	}
	waitQueued(t, e, 2)
	close(st.release)
	wg.Wait()
	if errs[0] != nil {
		t.Errorf("the first batch: %v", errs[0])
	}
	// b1 and c1 were written together; whichever led panicked, the other
	// must have been told.
	panicked, aborted := 0, 0
	for _, err := range errs[1:] {
		switch {
		case err == nil:
			t.Error("a batch of the panicking group reported success")
		case errors.Is(err, errIngestAborted):
			aborted++
		default:
			panicked++
		}
	}
	if panicked != 1 || aborted != 1 {
		t.Errorf("errors %v: want one panic and one aborted", errs[1:])
	}
}

// knownStore answers AddEvents by asking the engine's KnownCustomers which
// customers exist, at the version before its write, as the real store
// does, and inserts the events of those.
type knownStore struct {
	Store
	version int64
}

func (s *knownStore) AddEvents(_ context.Context, evs []domain.Event, known KnownCustomers) (domain.AddedEvents, error) {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].CustomerID
	}
	exists := make([]bool, len(ids))
	if !known(s.version, ids, exists) {
		return domain.AddedEvents{}, errors.New("the pond could not answer")
	}
	s.version++
	out := domain.AddedEvents{Inserted: exists, Version: s.version, ItemErrs: map[int]error{}}
	for i, ok := range exists {
		if !ok {
			out.ItemErrs[i] = fmt.Errorf("no customer for %s", ids[i])
		}
	}
	return out, nil
}

// Where a caller found its batch's customers before queueing is used only
// while the pond has removed no customer: a customer deleted (or merged
// away) between the lookup and the write has no events stored for it.
func TestCustomersRemovedAfterTheLookupAreLookedUpAgain(t *testing.T) {
	st := &knownStore{version: 3}
	e := New(st, nil, Config{})
	pond := profile.NewPond()
	for _, id := range []string{"a", "b"} {
		pond.PutCustomer(domain.Customer{ID: id, JoinedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	pond.Version = 3
	e.pond = pond
	evs := []domain.Event{
		{ID: "1", CustomerID: "a", Type: "visit", At: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "2", CustomerID: "b", Type: "visit", At: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	pos := e.positionsOf(evs)
	if len(pos.at) != 2 {
		t.Fatalf("positions %v: want both customers", pos.at)
	}
	pond.RemoveCustomer("a")
	res, err := e.addEvents(context.Background(), evs, pos)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Inserted, []bool{false, true}) || res.ItemErrs[0] == nil {
		t.Fatalf("inserted %v, errors %v: want a's event refused (a was removed after the lookup), b's stored", res.Inserted, res.ItemErrs)
	}
	if n := pond.EventCount(); n != 1 {
		t.Fatalf("the pond holds %d events, want b's one", n)
	}
}

package dispatch_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koihq/koi/engine/dispatch"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// countingStore counts the transactions that record outcomes.
type countingStore struct {
	*sqlite.DB
	finishes, outcomes atomic.Int64
}

func (s *countingStore) FinishJobs(ctx context.Context, now time.Time, os []domain.JobOutcome) error {
	s.finishes.Add(1)
	s.outcomes.Add(int64(len(os)))
	return s.DB.FinishJobs(ctx, now, os)
}

// Outcomes of deliveries in flight together are recorded together: each
// recording is a transaction with an fsync, and recording whatever had
// arrived at once wrote a few outcomes a commit (the outbox's largest cost
// after HTTP itself, koi bench's outbox line 11,400/s; 15,600/s together).
func TestOutcomesAreRecordedInFewTransactions(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 800, rcv)
	store := &countingStore{DB: f.db}
	d := dispatch.New(store, f.workers, dispatch.Options{Concurrency: 16, Now: func() time.Time { return time.UnixMilli(f.now.Load()).UTC() }})
	n, err := d.Drain(context.Background())
	if err != nil || n != 800 {
		t.Fatalf("drain: %d, %v", n, err)
	}
	if got := store.outcomes.Load(); got != 800 {
		t.Fatalf("%d outcomes recorded, want 800", got)
	}
	per := float64(store.outcomes.Load()) / float64(store.finishes.Load())
	t.Logf("%d transactions, %.1f outcomes each", store.finishes.Load(), per)
	// Recording at once gives about 2 a transaction; the linger gives 100 on
	// an idle machine and 28-50 under -race with both cores busy.
	if per < 10 {
		t.Errorf("%.1f outcomes a transaction (%d transactions for 800 deliveries, 16 at once): want at least 10", per, store.finishes.Load())
	}
}

package sqlite_test

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// Runs, merging records, records keyed by identities alone and events at
// once, from several goroutines (run it under -race): nothing is left
// under a gone id and the engine's pond equals a fresh load.
func TestConcurrentRunsMergesAndEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.playbook("fz", fuzzRules)
	f.playbook("fy", fuzzRules2)
	e := f.policyEngine(`cap: { messages: 100, per: 1d }`)
	var cs []domain.Customer
	for i := 0; i < 60; i++ {
		cs = append(cs, domain.Customer{ID: fmt.Sprintf("k%02d", i), JoinedAt: t0.Add(-time.Duration(i%7) * day)})
	}
	storeAll(t, e, t0, cs...)
	var runAtMs atomic.Int64
	runAtMs.Store(t0.UnixMilli())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	wg.Add(1)
	go func() {
		defer wg.Done()
		at := t0
		for k := 0; k < 12; k++ {
			at = at.Add(21 * time.Hour)
			runAtMs.Store(at.UnixMilli())
			if _, err := e.Run(ctx, runAt(at)); err != nil {
				errs <- fmt.Errorf("run: %w", err)
				return
			}
		}
		close(stop)
	}()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				var b []domain.Customer
				for r := 0; r < 3; r++ {
					c := domain.Customer{ID: fmt.Sprintf("k%02d", rng.Intn(60)), Identities: []domain.Identity{{Kind: "member_no", Value: fmt.Sprint("M", rng.Intn(400))}}}
					if rng.Intn(4) == 0 {
						c.ID = ""
					}
					b = append(b, c)
				}
				if _, err := e.StoreCustomers(ctx, b, time.UnixMilli(runAtMs.Load()).UTC(), "race"); err != nil {
					errs <- fmt.Errorf("store: %w", err)
					return
				}
				ev := domain.Event{ID: fmt.Sprintf("w%d-%d", w, k), CustomerID: fmt.Sprintf("k%02d", rng.Intn(60)), Type: "visit", At: t0}
				if _, err := e.AddEvents(ctx, []domain.Event{ev}); err != nil {
					errs <- fmt.Errorf("events: %w", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkInvariants(t, f, "end")
	fresh := f.policyEngine(`cap: { messages: 100, per: 1d }`)
	at := t0.Add(12 * 21 * time.Hour)
	rows, _ := f.db.SQL().Query(`SELECT id FROM customers`)
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		a, err1 := e.Profile(ctx, id, at)
		b, err2 := fresh.Profile(ctx, id, at)
		if err1 != nil || err2 != nil {
			t.Errorf("%s: %v %v", id, err1, err2)
			continue
		}
		if fmt.Sprint(a.Values()) != fmt.Sprint(b.Values()) {
			t.Errorf("%s resident %v\nfresh %v", id, a.Values(), b.Values())
		}
		for _, pr := range [][2]string{{"fz", "welcome"}, {"fz", "voucher"}, {"fz", "nudge"}, {"fy", "other"}} {
			x1, _ := e.Explain(ctx, engine.ExplainRequest{Playbook: pr[0], Rule: pr[1], CustomerID: id, At: at})
			x2, _ := fresh.Explain(ctx, engine.ExplainRequest{Playbook: pr[0], Rule: pr[1], CustomerID: id, At: at})
			if x1.Verdict != x2.Verdict || x1.Reason != x2.Reason {
				t.Errorf("%s %s resident %s/%s fresh %s/%s", id, pr[1], x1.Verdict, x1.Reason, x2.Verdict, x2.Reason)
			}
		}
	}
	t.Logf("merges %d customers %d fires %d", f.count(`SELECT count(*) FROM merges`), len(ids), f.count(`SELECT count(*) FROM fires`))
}

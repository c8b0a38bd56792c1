package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// A filter's count() reads the event types outside the pond's lock while
// ingest adds new types: a map read beside a map write killed the process
// ("concurrent map read and map write"). Run under -race, this test sees
// any such access.
func TestCountingTypesBesideNewTypes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(500, 0)
	e := f.engine()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.AddEvents(ctx, []domain.Event{{ID: fmt.Sprintf("e%d", k), CustomerID: "c001", Type: fmt.Sprintf("type%d", k), At: t0.Add(-time.Minute)}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if err := e.EachProfile(ctx, t0, 0, func(_ int, p *profile.Profile) bool {
			p.CountEvents("type3", "7d")
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

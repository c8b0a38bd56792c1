package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

const onceOnly = `
name: mr
limits: { max_fires: 100% }
rules:
  - id: welcome
    when: "true"
    once: true
    actions: [{ tag: { add: [welcomed] } }]
`

// A run decided s's once fire before g (who had it, in fires_archive) was
// merged into s; it writes after the merge. The person must not get a
// second once fire.
func TestOnceAcrossAnArchivedMergeMidRun(t *testing.T) {
	for _, archive := range []bool{false, true} {
		t.Run(fmt.Sprint("archived=", archive), func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.playbook("mr", onceOnly)
			var e *engine.Engine
			var once sync.Once
			var mergeErr error
			armed := false
			e = engine.New(f.db, f.reg, engine.Config{Tiers: []string{"normal", "gold", "vip"}, BatchSize: 3, AfterBatch: func(pb string, written int) {
				if !armed {
					return
				}
				once.Do(func() {
					u := []domain.Identity{{Kind: "unionid", Value: "gs"}}
					_, mergeErr = e.StoreCustomers(ctx, []domain.Customer{{ID: "g", Identities: u}, {ID: "s", Identities: u}}, t0, "mid-run")
				})
			}})
			if err := e.Load(f.dir); err != nil {
				t.Fatal(err)
			}
			storeAll(t, e, t0.Add(-20*day), domain.Customer{ID: "g", JoinedAt: t0.Add(-20 * day)})
			if _, err := e.Run(ctx, engine.RunRequest{At: t0.Add(-10 * day), ApprovedBy: "t"}); err != nil {
				t.Fatal(err)
			}
			if archive {
				if n, err := f.db.ArchiveFires(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
					t.Fatalf("archive: %d %v", n, err)
				}
			}
			var cs []domain.Customer
			for i := 0; i < 9; i++ {
				cs = append(cs, domain.Customer{ID: fmt.Sprintf("a%02d", i), JoinedAt: t0.Add(-5 * day)})
			}
			cs = append(cs, domain.Customer{ID: "s", JoinedAt: t0.Add(-30 * day)})
			storeAll(t, e, t0.Add(-time.Hour), cs...)
			armed = true
			runs, err := e.Run(ctx, engine.RunRequest{At: t0, ApprovedBy: "t"})
			if err != nil || mergeErr != nil {
				t.Fatal(err, mergeErr)
			}
			t.Logf("run: %+v", runs[0].Rules[0])
			if n := f.count(`SELECT count(*) FROM fires WHERE rule = 'welcome' AND customer_id = 's'`); n != 1 {
				t.Errorf("s (with g merged in) has %d once fires; want 1: g's", n)
			}
			if n := f.count(`SELECT count(*) FROM (SELECT 1 FROM fires GROUP BY playbook, rule, customer_id, seq HAVING count(*) > 1)`); n != 0 {
				t.Errorf("%d fire keys (playbook, rule, customer, seq) held twice", n)
			}
		})
	}
}

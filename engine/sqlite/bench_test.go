package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// BenchmarkWriteFires measures a run that fires for 10,000 customers, each
// fire issuing a coupon and a tag: the write path (fires, coupons, tags,
// in batches) on a fresh database per iteration.
func BenchmarkWriteFires(b *testing.B) {
	const n = 10_000
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dir := b.TempDir()
	pbDir := benchPlaybook(b, dir, `name: all
schedule: "0 10 * * *"
limits: { max_fires: 100% }
rules:
  - id: everyone
    when: member
    once: true
    actions:
      - coupon: { amount: 10, min_spend: 0, expires_in: 7d }
      - tag: { add: [bench] }
`)
	cs := make([]domain.Customer, n)
	for i := range cs {
		cs[i] = domain.Customer{ID: fmt.Sprintf("c%06d", i), Member: true, Tier: "normal", Tags: []string{"a"}, JoinedAt: t0.Add(-time.Hour)}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		db, err := sqlite.Open(context.Background(), filepath.Join(dir, fmt.Sprintf("w%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := db.UpsertCustomers(context.Background(), cs, t0); err != nil {
			b.Fatal(err)
		}
		e := engine.New(db, builtin.Registry(), engine.Config{})
		if err := e.Load(pbDir); err != nil {
			b.Fatal(err)
		}
		if err := e.Warm(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		runs, err := e.Run(context.Background(), engine.RunRequest{At: t0})
		if err != nil || runs[0].Fired != n {
			b.Fatalf("run: %v, %+v", err, runs)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/fire")
}

// BenchmarkAddEvents measures durable batch ingest: each iteration adds a
// batch of 1,000 events of 10,000 customers, with random ids, ten of them
// repeating ids of earlier batches. The event id compactor runs as it
// would in a server: it writes a run every 65,536 events, and merges
// eight runs once there are eight (-benchtime=600x and up).
func BenchmarkAddEvents(b *testing.B) {
	const customers, batch = 10_000, 1000
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "koi.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cs := make([]domain.Customer, customers)
	for i := range cs {
		cs[i] = domain.Customer{ID: fmt.Sprintf("c%06d", i), Tier: "normal", JoinedAt: t0}
	}
	if err := db.UpsertCustomers(ctx, cs, t0); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var sent []string
	evs := make([]domain.Event, batch)
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			id := fmt.Sprintf("%016x", rng.Uint64())
			if i < 10 && len(sent) > 0 {
				id = sent[rng.IntN(len(sent))]
			} else if i == 10 {
				sent = append(sent, id)
			}
			evs[i] = domain.Event{ID: id, CustomerID: cs[rng.IntN(customers)].ID, Type: "visit", At: t0}
		}
		if _, err := db.AddEvents(ctx, evs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batch, "ns/event")
}

// BenchmarkJourneyPass measures the pass that takes the due first step of
// 10,000 customers in a journey (a tag each, a tenth held out) and moves
// them on: reading the due steps, deciding them and writing the fires,
// the moves and the tags. Their entry is not timed.
func BenchmarkJourneyPass(b *testing.B) {
	const n = 10_000
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dir := b.TempDir()
	pbDir := benchPlaybook(b, dir, `name: sop
schedule: "0 10 * * *"
holdout: 10%
limits: { max_fires: 100% }
journey:
  enter:
    when: member
  steps:
    - id: nudge
      after: 1d
      actions: [{ tag: { add: [nudged] } }]
    - id: offer
      after: 3d
      actions: [{ coupon: { amount: 5, min_spend: 0, expires_in: 7d } }]
`)
	cs := make([]domain.Customer, n)
	for i := range cs {
		cs[i] = domain.Customer{ID: fmt.Sprintf("c%06d", i), Member: true, Tier: "normal", Tags: []string{"a"}, JoinedAt: t0.Add(-time.Hour)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		db, err := sqlite.Open(ctx, filepath.Join(dir, fmt.Sprintf("j%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := db.UpsertCustomers(ctx, cs, t0); err != nil {
			b.Fatal(err)
		}
		e := engine.New(db, builtin.Registry(), engine.Config{})
		if err := e.Load(pbDir); err != nil {
			b.Fatal(err)
		}
		pb, _ := e.Playbook("sop")
		if _, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0, Enter: true}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		r, err := e.ProcessJourney(ctx, pb, engine.JourneyRequest{At: t0.Add(25 * time.Hour)})
		if err != nil || r.Status != engine.RunDone || r.Rules[0].Fired+r.Rules[0].Suppressed["holdout"] != n {
			b.Fatalf("pass: %v, %+v", err, r)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/step")
}

// benchPlaybook writes a playbooks directory in dir holding text, and
// returns it.
func benchPlaybook(b *testing.B, dir, text string) string {
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.MkdirAll(pbDir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbDir, "playbook.yaml"), []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	return pbDir
}

// BenchmarkAdvanceJourneys measures the store's side of a journey pass:
// moving 50,000 entries of a journey on to their next step in batches of
// 5,000, one write transaction each, on a database holding them.
func BenchmarkAdvanceJourneys(b *testing.B) {
	const n, batch = 50_000, 5_000
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	sts := make([]domain.JourneyState, n)
	for i := range sts {
		sts[i] = domain.JourneyState{Journey: "sop", CustomerID: fmt.Sprintf("c%07d", i), Entry: 1, EnteredAt: t0, Hash: "h",
			NextStep: "nudge", DueAt: t0.Add(24 * time.Hour), Status: domain.JourneyEntered}
	}
	moves := make([]domain.JourneyMove, n)
	for i, st := range sts {
		moves[i] = domain.JourneyMove{Journey: st.Journey, CustomerID: st.CustomerID, Entry: 1, From: "nudge",
			Next: domain.JourneyState{NextStep: "offer", DueAt: t0.Add(96 * time.Hour), Status: domain.JourneyEntered}}
	}
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		db, err := sqlite.Open(ctx, filepath.Join(dir, fmt.Sprintf("a%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.WriteFires(ctx, t0, func(tx engine.FireTx) error {
			_, err := tx.EnterJourneys(sts)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for lo := 0; lo < n; lo += batch {
			if _, err := db.WriteFires(ctx, t0, func(tx engine.FireTx) error {
				moved, err := tx.AdvanceJourneys(moves[lo : lo+batch])
				if err == nil && !moved[0] {
					err = fmt.Errorf("customer %s did not move", moves[lo].CustomerID)
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/move")
}

package evaluate

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// However many goroutines work on an evaluation, and whenever they join,
// its result is the one a single goroutine gets: decisions in customer
// order, the same counts, the first error in customer order.
func TestJobJoinedByManyEqualsOne(t *testing.T) {
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	p := profile.NewPond()
	for i := range 20_000 {
		c := domain.Customer{ID: fmt.Sprintf("c%05d", i), Member: i%3 == 0, JoinedAt: now.Add(-time.Hour)}
		if i%7 == 0 {
			c.Attrs = map[string]any{"n": "not a number"}
		}
		p.PutCustomer(c)
	}
	snap := profile.RecomputeSnapshot(nil, p, now, profile.ProfileConfig{})
	pb, err := rules.Load("p.yaml", []byte(`name: p
rules:
  - id: members
    when: member
    once: true
    actions: [{ tag: { add: [x] } }]
  - id: broken
    when: attrs.n > 1
    once: true
    actions: [{ tag: { add: [y] } }]
`), rules.Options{Env: profile.ExprEnv(), Registry: builtin.Registry(), Sample: profile.SampleValues()})
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, snap.Len())
	for i := range all {
		all[i] = i
	}
	want := EvaluateSubset(pb, snap, &Marks{}, all) // one loop, no job
	if !slices.IsSortedFunc(want.Decisions, func(a, b Decision) int { return int(a.Cust - b.Cust) }) {
		t.Fatal("the reference is not in customer order")
	}
	if n := want.Fires(); n != 6667 {
		t.Fatalf("the reference: %d fires, want 6667", n)
	}
	if want.Counts[1].Errors == 0 || want.Counts[1].FirstError == "" {
		t.Fatalf("the broken rule counted no error: %+v", want.Counts[1])
	}

	for _, joiners := range []int{0, 1, 4} {
		job := NewJob(nil, pb, snap, &Marks{}, false)
		var wg sync.WaitGroup
		for k := range joiners {
			wg.Go(func() {
				time.Sleep(time.Duration(k) * time.Millisecond) // join late
				job.Work()
			})
		}
		job.Work()
		wg.Wait()
		job.Work() // after the end: takes nothing
		got := job.Result()
		if !reflect.DeepEqual(got.Decisions, want.Decisions) || got.Audience != want.Audience {
			t.Errorf("%d joiners: %d decisions, audience %d; want %d, %d", joiners, len(got.Decisions), got.Audience, len(want.Decisions), want.Audience)
		}
		if !reflect.DeepEqual(got.Counts, want.Counts) {
			t.Errorf("%d joiners: counts %+v; want %+v", joiners, got.Counts[1], want.Counts[1])
		}
	}
}

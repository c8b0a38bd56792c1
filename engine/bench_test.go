package engine_test

import (
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// The hot paths of a run, on a demo pond. Compare changes with benchstat:
//
//	go test ./engine -run '^$' -bench . -count 10 > old.txt   (and new.txt)
//	benchstat old.txt new.txt

var benchAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func demoPond(b *testing.B, n int) *profile.Pond {
	b.Helper()
	g := demo.Generator{Seed: 1, Anchor: benchAt}
	p := profile.NewPond()
	p.Grow(n)
	for i := 0; i < n; i++ {
		c, evs := g.Customer(i)
		idx := p.PutCustomer(c)
		for _, e := range evs {
			p.AddLoadedEvent(idx, e)
		}
	}
	return p
}

// examplePlaybooks loads the example playbooks.
func examplePlaybooks(b *testing.B) []*rules.Playbook {
	b.Helper()
	pbs, err := rules.LoadPaths([]string{"../examples/playbooks"}, rules.Options{Env: profile.ExprEnv(), Registry: builtin.Registry(), Tiers: []string{"normal", "silver", "gold", "vip"}})
	if err != nil {
		b.Fatal(err)
	}
	return pbs
}

// BenchmarkComputeSnapshot computes every profile of a 50,000-customer pond.
func BenchmarkComputeSnapshot(b *testing.B) {
	p := demoPond(b, 50_000)
	b.ReportAllocs()
	for b.Loop() {
		profile.ComputeSnapshot(p, benchAt, profile.ProfileConfig{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50_000, "ns/customer")
}

// BenchmarkEvaluateExamples evaluates every condition of the example
// playbooks on every profile, as a run does before it writes anything.
func BenchmarkEvaluateExamples(b *testing.B) {
	p := demoPond(b, 50_000)
	snap := profile.ComputeSnapshot(p, benchAt, profile.ProfileConfig{})
	pbs := examplePlaybooks(b)
	var conds []*rules.Condition
	for _, pb := range pbs {
		for _, r := range pb.Rules {
			conds = append(conds, r.When)
		}
	}
	var m rules.Evaluator
	var buf profile.ProfileBuf
	b.ReportAllocs()
	for b.Loop() {
		for i := range snap.Len() {
			p := snap.Fill(i, &buf)
			for _, c := range conds {
				if _, err := c.Eval(&m, p); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(snap.Len()*len(conds)), "ns/condition")
}

// BenchmarkEvaluatePlaybooks evaluates each example playbook over every
// customer with no fire history, one core: audience, rules, holdouts and
// decisions, as a run does before it writes anything.
func BenchmarkEvaluatePlaybooks(b *testing.B) {
	p := demoPond(b, 50_000)
	snap := profile.ComputeSnapshot(p, benchAt, profile.ProfileConfig{})
	pbs := examplePlaybooks(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, pb := range pbs {
			evaluate.EvaluateWith(pb, snap, &evaluate.Marks{}, 1, false)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(snap.Len()*len(pbs)), "ns/customer")
}

// BenchmarkFill fills every profile of a 200,000-customer snapshot, as an
// evaluation does once per customer and playbook.
func BenchmarkFill(b *testing.B) {
	p := demoPond(b, 200_000)
	snap := profile.ComputeSnapshot(p, benchAt, profile.ProfileConfig{})
	buf := profile.ProfileBuf{WithoutAttrs: true}
	orders := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range snap.Len() {
			orders += snap.Fill(i, &buf).Orders
		}
	}
	if orders == 0 {
		b.Fatal("no orders filled")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(snap.Len()), "ns/customer")
}

package profile

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A rank table answers exactly what a binary search over the sorted
// population answers, for values inside, below and above the population,
// and a population spread too wide for a table is searched.
func TestRankTableMatchesSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name     string
		n        int
		lo, span int32
	}{
		{"empty", 0, 0, 1},
		{"one", 1, 7, 1},
		{"days", 5000, 0, 366},
		{"orders with gaps", 300, 1, 2000},
		{"negative", 200, -50, 100},
		{"too wide for a table", 1000, 0, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sorted := make([]int32, tc.n)
			for i := range sorted {
				sorted[i] = tc.lo + rng.Int32N(tc.span)
			}
			slices.Sort(sorted)
			var rt rankTable
			rt.build(sorted)
			if wantTable := tc.span < maxRankTable && tc.n > 0; (len(rt.below) > 0) != wantTable {
				t.Fatalf("table of %d entries; want one: %v", len(rt.below), wantTable)
			}
			for v := tc.lo - 3; v <= tc.lo+min(tc.span, 5000)+3; v++ {
				if got, want := rt.lowerBound(sorted, v), searchInt32(sorted, v); got != want {
					t.Fatalf("lowerBound(%d) = %d, search says %d", v, got, want)
				}
			}
			// A table reused for a smaller population answers for it alone.
			rt.build(sorted[:tc.n/2])
			for v := tc.lo - 3; v <= tc.lo+min(tc.span, 5000)+3; v++ {
				if got, want := rt.lowerBound(sorted[:tc.n/2], v), searchInt32(sorted[:tc.n/2], v); got != want {
					t.Fatalf("after reuse: lowerBound(%d) = %d, search says %d", v, got, want)
				}
			}
		})
	}
}

// Counting sorts what slices.Sort sorts, narrow or wide.
func TestCountingSortSorts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, span := range []int32{1, 3, 400, maxRankTable - 1, maxRankTable, 1 << 30} {
		for _, n := range []int{0, 1, 2, 1000} {
			a := make([]int32, n)
			for i := range a {
				a[i] = rng.Int32N(span) - span/2
			}
			want := slices.Sorted(slices.Values(a))
			countingSort(a)
			if !slices.Equal(a, want) {
				t.Fatalf("span %d, %d values: %v, want %v", span, n, a[:min(n, 10)], want[:min(n, 10)])
			}
		}
	}
}

// Scores are 1 + floor(5w/n) (DESIGN §2) for every scored customer, w
// counted by brute force, with ties, and populations of every size up to
// a few hundred; a customer scored later who beats the whole population
// scores 5, not 6.
func TestScoresFollowTheFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 23, 100, 257} {
		for _, spread := range []int64{1, 3, 50, 1 << 40} {
			rows := make([]row, n+1) // the last one is not scored
			for i := range n {
				rows[i] = row{flags: rfmScored, recency: int32(rng.Int64N(spread % 400)), rfmOrders: int32(1 + rng.Int64N(spread%30+1)),
					rfmSpend: rng.Int64N(spread) - spread/4}
			}
			pop := newPopulation(rows, nil, nil)
			for i := range n {
				r := rows[i]
				var wr, wf, wm int
				for _, o := range rows[:n] {
					wr += b2i(o.recency > r.recency)
					wf += b2i(o.rfmOrders < r.rfmOrders)
					wm += b2i(o.rfmSpend < r.rfmSpend)
				}
				pop.score(&r)
				if want := [3]int{1 + 5*wr/n, 1 + 5*wf/n, 1 + 5*wm/n}; [3]int{int(r.r), int(r.f), int(r.m)} != want {
					t.Fatalf("n=%d spread=%d: customer %d scored R%d F%d M%d, want %v", n, spread, i, r.r, r.f, r.m, want)
				}
			}
			best := row{flags: rfmScored, recency: -1, rfmOrders: 1 << 30, rfmSpend: 1 << 62}
			pop.score(&best)
			if best.r != 5 || best.f != 5 || best.m != 5 {
				t.Fatalf("n=%d: a customer beating everyone scored R%d F%d M%d, want 5s", n, best.r, best.f, best.m)
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

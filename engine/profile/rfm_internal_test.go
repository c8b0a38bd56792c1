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

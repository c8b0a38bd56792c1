package profile

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRadixSortInt64SortsAsSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := [][]int64{nil, {5}, {2, 1}, {math.MaxInt64, math.MinInt64, 0, -1, 1}}
	for _, n := range []int{3, 100, 1000, 70_000} {
		small, wide, signed, same := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i := range n {
			small[i] = rng.Int64N(300_000) // fen: one byte pass or three
			wide[i] = rng.Int64()
			signed[i] = rng.Int64N(2_000_000) - 1_000_000
			same[i] = 42
		}
		inputs = append(inputs, small, wide, signed, same)
	}
	for _, in := range inputs {
		want := slices.Sorted(slices.Values(in))
		a := slices.Clone(in)
		got := radixSortInt64(a, make([]int64, len(a)))
		if !slices.Equal(got, want) {
			t.Fatalf("radix sort of %d values (%v...) differs from slices.Sort", len(in), in[:min(len(in), 5)])
		}
	}
}

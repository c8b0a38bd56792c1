package sqlite

import (
	"slices"
	"testing"
)

// mergeCandidate merges fanIn runs of one size, lets a large run wait for
// the runs after it to grow to its size, and past maxRuns merges the
// smallest neighbours whatever their sizes.
func TestMergeCandidate(t *testing.T) {
	sizes := func(rs []*idRun) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ids)
		}
		return out
	}
	index := func(ids ...int64) *idIndex {
		x := &idIndex{flushAt: 100, fanIn: 4}
		for i, n := range ids {
			x.runs = append(x.runs, &idRun{run: int64(i + 1), ids: n})
		}
		return x
	}
	for _, tc := range []struct {
		runs, want []int64
	}{
		{[]int64{100, 100, 100}, nil},                              // too few
		{[]int64{100, 100, 100, 100}, []int64{100, 100, 100, 100}}, // four of one size
		{[]int64{1600, 400, 100, 100, 100}, nil},                   // the big ones wait
		{[]int64{1600, 400, 100, 100, 100, 100}, []int64{100, 100, 100, 100}},
		{[]int64{1600, 400, 400, 400, 400}, []int64{400, 400, 400, 400}}, // the next level
		{[]int64{100, 300}, []int64{100, 300}},                           // a small run before a big flush
		{[]int64{5000, 100, 100, 100, 100, 2000}, []int64{100, 100, 100, 100, 2000}},
	} {
		got := sizes(index(tc.runs...).mergeCandidate())
		if !slices.Equal(got, tc.want) {
			t.Errorf("runs %v: merge %v, want %v", tc.runs, got, tc.want)
		}
	}
	// Past maxRuns, runs whose sizes never line up (each more than the
	// runs after it together) still merge: the fanIn adjacent runs with
	// the fewest ids.
	x := index()
	x.fanIn = 2
	for i := 0; i <= maxRuns; i++ {
		x.runs = append(x.runs, &idRun{run: int64(i + 1), ids: 1 << (40 - i)})
	}
	if got := sizes(x.mergeCandidate()); !slices.Equal(got, []int64{1 << 9, 1 << 8}) {
		t.Errorf("past maxRuns: merge %v, want [512 256]", got)
	}
	x.runs = x.runs[:maxRuns]
	if got := x.mergeCandidate(); got != nil {
		t.Errorf("at maxRuns: merge %v, want none", sizes(got))
	}
}

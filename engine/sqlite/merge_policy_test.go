package sqlite

import (
	"slices"
	"testing"
)

// mergeCandidate merges fanIn runs of one size, lets a large run wait for
// the runs after it to grow to its size, and past maxRuns merges the
// smallest neighbours whatever their sizes. While ingest is busy, a merge
// into a run of more than bigMerge ids waits, until the runs pass maxRuns.
func TestMergeCandidate(t *testing.T) {
	sizes := func(rs []*idRun) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ids)
		}
		return out
	}
	index := func(ids ...int64) *idIndex {
		x := &idIndex{flushAt: 100, fanIn: 4, maxRuns: 32, bigMerge: defaultBigMerge}
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
		// The fewest ids first: the four, then those with the big flush.
		{[]int64{5000, 100, 100, 100, 100, 2000}, []int64{100, 100, 100, 100}},
		{[]int64{5000, 400, 2000}, []int64{400, 2000}},
		// Runs of one size piled up: the oldest four first.
		{[]int64{1600, 100, 100, 100, 100, 100, 100, 100}, []int64{100, 100, 100, 100}},
	} {
		merge, waiting := index(tc.runs...).mergeCandidate(false)
		if got := sizes(merge); !slices.Equal(got, tc.want) || waiting {
			t.Errorf("runs %v: merge %v (waiting %v), want %v", tc.runs, got, waiting, tc.want)
		}
		// Small merges go ahead while ingest is busy too.
		if merge, _ := index(tc.runs...).mergeCandidate(true); !slices.Equal(sizes(merge), tc.want) {
			t.Errorf("runs %v, busy: merge %v, want %v", tc.runs, sizes(merge), tc.want)
		}
	}
	// Past maxRuns, runs whose sizes never line up (each more than the
	// runs after it together) still merge: the fanIn adjacent runs with
	// the fewest ids.
	x := index()
	x.fanIn = 2
	for i := 0; i <= x.maxRuns; i++ {
		x.runs = append(x.runs, &idRun{run: int64(i + 1), ids: 1 << (40 - i)})
	}
	if got, _ := x.mergeCandidate(false); !slices.Equal(sizes(got), []int64{1 << 9, 1 << 8}) {
		t.Errorf("past maxRuns: merge %v, want [512 256]", sizes(got))
	}
	x.runs = x.runs[:x.maxRuns]
	if got, _ := x.mergeCandidate(false); got != nil {
		t.Errorf("at maxRuns: merge %v, want none", sizes(got))
	}

	// Busy: eight runs that would make a big one wait, and say so; at
	// rest, or past maxRuns, they merge.
	big := index()
	big.fanIn = 8
	for i := range 8 {
		big.runs = append(big.runs, &idRun{run: int64(i + 1), ids: defaultBigMerge / 4})
	}
	if got, waiting := big.mergeCandidate(true); got != nil || !waiting {
		t.Errorf("busy: merge %v (waiting %v), want none, waiting", sizes(got), waiting)
	}
	if got, waiting := big.mergeCandidate(false); len(got) != 8 || waiting {
		t.Errorf("at rest: merge %v (waiting %v), want all eight", sizes(got), waiting)
	}
	big.maxRuns = 7
	if got, _ := big.mergeCandidate(true); len(got) != 8 {
		t.Errorf("busy past maxRuns: merge %v, want eight runs", sizes(got))
	}
}

// Merges held back while ingest was busy, made once it pauses, copy
// about as many ids as merging at rest throughout would have: runs of one
// size that piled up merge fanIn at a time, not each merge taking in the
// run the one before made (which copied 1.5 and 2.5 times as many ids at
// 39 and 98 million, ending in one merge of them all). Replays the policy
// over the flushes of 39 and 98 million ids at the default thresholds.
func TestMergesAfterAPauseCopyNoMore(t *testing.T) {
	replay := func(flushes int, busy bool) (copied, biggest int64, runs int, ids int64) {
		x := &idIndex{flushAt: defaultFlushAt, fanIn: defaultFanIn, maxRuns: defaultMaxRuns, bigMerge: defaultBigMerge}
		var num, seq int64
		settle := func(busy bool) {
			for {
				m, _ := x.mergeCandidate(busy)
				if m == nil {
					return
				}
				num++
				r := &idRun{run: num, first: m[0].first, last: m[len(m)-1].last}
				for _, in := range m {
					r.ids += in.ids
				}
				copied += r.ids
				biggest = max(biggest, r.ids)
				x.runs = spliceRuns(x.runs, r, m)
			}
		}
		for range flushes {
			num++
			x.runs = append(x.runs, &idRun{run: num, first: seq + 1, last: seq + defaultFlushAt, ids: defaultFlushAt})
			seq += defaultFlushAt
			ids += defaultFlushAt
			settle(busy)
		}
		settle(false) // ingest pauses
		return copied, biggest, len(x.runs), ids
	}
	for _, flushes := range []int{600, 1500} {
		restCopied, restBig, restRuns, ids := replay(flushes, false)
		busyCopied, busyBig, busyRuns, _ := replay(flushes, true)
		t.Logf("%d ids: at rest %.2f copies an id (biggest merge %d, %d runs); busy, then a pause, %.2f (biggest %d, %d runs)",
			ids, float64(restCopied)/float64(ids), restBig, restRuns, float64(busyCopied)/float64(ids), busyBig, busyRuns)
		if float64(busyCopied) > 1.2*float64(restCopied) || float64(busyBig) > 1.3*float64(restBig) {
			t.Errorf("%d ids: busy then paused copies %d ids (biggest merge %d), more than the %d (biggest %d) at rest", ids, busyCopied, busyBig, restCopied, restBig)
		}
		if restCopied > 4*ids {
			t.Errorf("%d ids: at rest %d copies", ids, restCopied)
		}
	}
}

package engine

import (
	"math"
	"testing"
)

func TestNeedsCollection(t *testing.T) {
	const mb = 1 << 20
	// A heap like koi bench's at a million customers: 573 MB live, a goal
	// 30% above (GOGC=30), the collector free to start 70% of the way.
	h := heapState{live: 573 * mb, goal: 745 * mb}
	cases := []struct {
		name              string
		objects, expected uint64
		want              bool
	}{
		{"nothing known before the first run", 649 * mb, 0, false},
		{"a run that fits", 573 * mb, 59 * mb, false},
		{"a run that ends just short of the trigger", 600 * mb, 92 * mb, false},
		{"a run that would cross the trigger", 649 * mb, 59 * mb, true},
		{"a heap already past the goal", 800 * mb, 1, true},
		{"a run larger than the whole runway", 649 * mb, 121 * mb, false},
		{"a run as large as the whole runway", 649 * mb, 120 * mb, true},
	}
	for _, c := range cases {
		h := h
		h.objects = c.objects
		if got := needsCollection(h, c.expected); got != c.want {
			t.Errorf("%s: needsCollection(objects %d MB, expected %d MB) = %v, want %v", c.name, c.objects/mb, c.expected/mb, got, c.want)
		}
	}
	// GOGC=off: the goal is out of reach, and computing the trigger must
	// not overflow into a small number.
	off := heapState{objects: 900 * mb, live: 573 * mb, goal: math.MaxUint64 - 1}
	if needsCollection(off, 100*mb) {
		t.Error("with the collector off a run was preceded by a collection")
	}
	if needsCollection(heapState{}, 100*mb) {
		t.Error("with no heap metrics a run was preceded by a collection")
	}
}

// The runway learns what a run allocates from the run before, and
// collects before one that would not fit.
func TestRunwayCollectsBeforeARunThatWouldNotFit(t *testing.T) {
	const mb = 1 << 20
	h := heapState{objects: 573 * mb, live: 573 * mb, goal: 745 * mb, allocs: 1000 * mb}
	collections := 0
	w := &runway{read: func() heapState { return h }, collect: func() {
		collections++
		h.objects = h.live
	}}
	run := func(allocates uint64) {
		start, _ := w.before()
		h.objects += allocates
		h.allocs += allocates
		w.after(start)
	}
	run(76 * mb) // the first: nothing known, no collection
	if collections != 0 {
		t.Fatalf("the first run was preceded by %d collections", collections)
	}
	if w.last != 76*mb {
		t.Fatalf("the runway noted %d MB for the first run, want 76", w.last/mb)
	}
	run(59 * mb) // 649 + 76 crosses 693: collect first
	if collections != 1 {
		t.Fatalf("a run that would cross the trigger was preceded by %d collections, want 1", collections)
	}
	if h.objects != 632*mb {
		t.Fatalf("heap after the second run %d MB, want 632", h.objects/mb)
	}
	run(10 * mb) // 632 + 59 stays under 693: no collection
	if collections != 1 {
		t.Errorf("a run that fits was preceded by a collection (%d in all)", collections)
	}
}

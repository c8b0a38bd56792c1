package engine

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// A garbage collection that lands in the middle of a run competes with it
// for both cores: the evaluator and the single SQLite writer lose the
// collector's share, and what the run allocates after it lands on fresh
// memory. At a million customers a run interrupted by one took 0.2 s
// longer (koi bench, timed run: 1.17 s against 0.96 s with a collection
// made just before it, inside the timed time, 5 alternating pairs),
// while that collection itself took 65-70 ms, made when nothing else
// runs. So a run that would not fit in what the heap may still grow
// before the collector starts is preceded by a collection. How much a run
// allocates is taken from the run before: a pond's runs are alike.

// heapState is what the runtime says of the heap (runtime/metrics).
type heapState struct {
	// objects is the memory of heap objects, live or not yet swept.
	objects uint64
	// live is the heap the last collection found live; goal is the heap
	// size the collector aims to finish its next cycle at.
	live, goal uint64
	// allocs is the total allocated so far.
	allocs uint64
}

// runwayTriggerShare is how far from live to goal the heap may grow
// before a collection is taken to start, in tenths: Go's pacer starts one
// at 70% to 95% of the way, and the earliest is the one a run must
// not cross.
const runwayTriggerShare = 7

// needsCollection says whether a run expected to allocate expected bytes
// would cross the point where the collector may start, with the heap as h,
// and would not once the garbage is collected: a run larger than the whole
// runway meets a collection anyway (a small pond with a large fire history:
// at 100,000 customers a run allocated about as much as the runway, and a
// collection first only added its own time). Nothing is known before the
// first run (expected 0); with the collector off (GOGC=off) the goal is out
// of reach.
func needsCollection(h heapState, expected uint64) bool {
	if expected == 0 || h.goal <= h.live {
		return false
	}
	trigger := h.live + (h.goal-h.live)/10*runwayTriggerShare
	return h.objects+expected > trigger && h.live+expected <= trigger
}

// runway collects before a run that would not fit in the heap's runway
// (needsCollection) and remembers what each run allocated.
type runway struct {
	read    func() heapState
	collect func()

	mu   sync.Mutex
	last uint64 // bytes the last run allocated, 0 before the first
}

// newRunway returns a runway on the Go runtime's heap.
func newRunway() *runway {
	return &runway{read: readHeap, collect: runtime.GC}
}

// before is called as a run starts: it collects first when the run is
// not expected to fit, and returns what the run's allocation is counted
// from, for after, and how long a collection took (0: none).
func (w *runway) before() (start uint64, took time.Duration) {
	w.mu.Lock()
	expected := w.last
	w.mu.Unlock()
	h := w.read()
	if needsCollection(h, expected) {
		t := time.Now()
		w.collect()
		took = time.Since(t)
		h = w.read()
	}
	return h.allocs, took
}

// after is called as a run ends, with what before returned: it notes
// what the run allocated, for the next. (Other goroutines' allocations
// in the meantime count too: an overestimate costs at most one early
// collection.)
func (w *runway) after(start uint64) {
	end := w.read().allocs
	w.mu.Lock()
	w.last = end - start
	w.mu.Unlock()
}

// heapMetrics are the runtime/metrics samples readHeap reads, in
// heapState's order.
var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/gc/heap/allocs:bytes",
}

// readHeap reads the heap's state from the runtime.
func readHeap() heapState {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return heapState{objects: v(0), live: v(1), goal: v(2), allocs: v(3)}
}

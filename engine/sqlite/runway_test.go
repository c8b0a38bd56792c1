package sqlite_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// heapNow reads what the engine's runway reads of the heap, and how many
// collections were forced (runtime.GC) and made so far.
func heapNow() (objects, live, goal, allocs, forced, cycles uint64) {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/forced:gc-cycles"}, {Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64(), s[4].Value.Uint64(), s[5].Value.Uint64()
}

// A run that would not fit in the heap's room to grow is preceded by a
// collection (engine's runway); one that fits is not. The heap is filled
// by the test to just short of where the collector may start.
func TestARunThatWouldNotFitCollectsFirst(t *testing.T) {
	f := newFixture(t)
	f.customers(200, 150)
	f.playbook("all", `
name: all
limits: { max_fires: 100% }
rules:
  - id: r
    when: "true"
    cooldown: 1d
    actions:
      - coupon: { amount: 5, expires_in: 3d }
`)
	e := f.engine()
	at := t0
	runOnce := func() (allocated, forced uint64) {
		_, _, _, a0, f0, _ := heapNow()
		at = at.Add(24 * time.Hour)
		f.run(e, at, false)
		_, _, _, a1, f1, _ := heapNow()
		return a1 - a0, f1 - f0
	}
	runtime.GC()
	allocated, forced := runOnce() // the first run: nothing known yet
	if forced != 0 {
		t.Fatalf("the first run was preceded by %d collections", forced)
	}
	if _, forced := runOnce(); forced != 0 {
		t.Errorf("a run that fits (on a fresh heap) was preceded by %d collections", forced)
	}
	for try := 0; ; try++ {
		runtime.GC()
		objects, live, goal, _, _, cycles := heapNow()
		// Fill the heap to half a run short of the earliest start of the
		// collector: the next run would cross it.
		trigger := live + (goal-live)/10*7
		junk := make([]byte, trigger-objects-allocated/2)
		_, _, _, _, _, cyclesAfter := heapNow()
		if cyclesAfter != cycles {
			// The collector started anyway: the heap is not as filled.
			if try == 3 {
				t.Fatal("the collector kept starting while the test filled the heap")
			}
			continue
		}
		_, forced = runOnce()
		runtime.KeepAlive(junk)
		break
	}
	if forced != 1 {
		t.Errorf("a run that would cross the collector's start was preceded by %d collections, want 1", forced)
	}
}

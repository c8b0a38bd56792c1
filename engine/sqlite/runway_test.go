package sqlite_test

import (
	"bytes"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine"
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
	var logged bytes.Buffer
	e := engine.New(f.db, f.reg, engine.Config{Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := e.Load(f.dir); err != nil {
		t.Fatal(err)
	}
	const line = `msg="collected garbage before the run" took=`
	at := t0
	runOnce := func() (allocated, forced uint64) {
		_, _, _, a0, f0, _ := heapNow()
		at = at.Add(24 * time.Hour)
		f.run(e, at, false)
		_, _, _, a1, f1, _ := heapNow()
		return a1 - a0, f1 - f0
	}
	runtime.GC()
	if _, forced := runOnce(); forced != 0 { // the first run: nothing known yet
		t.Fatalf("the first run was preceded by %d collections", forced)
	}
	runtime.GC()
	allocated, forced := runOnce() // what the engine expects of the next
	if forced != 0 {
		t.Errorf("a run that fits (on a fresh heap) was preceded by %d collections", forced)
	}
	if strings.Contains(logged.String(), line) {
		t.Errorf("the log says a collection was made before a run that fits:\n%s", logged.String())
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
	if n := strings.Count(logged.String(), line); n != 1 {
		t.Errorf("the debug log has %d lines %q, want 1:\n%s", n, line, logged.String())
	}
}

package evaluate

import (
	"sync"
	"sync/atomic"

	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// jobChunks is how many pieces an evaluation of a large snapshot is cut
// into. Goroutines take the pieces one at a time, so one that joins late
// (a run's writer, done with its playbook) still takes a share, and a
// core that loses time to something else holds up the rest by one piece
// at most.
const jobChunks = 64

// Job is an evaluation of a playbook over a snapshot that any number of
// goroutines can work on together (Work), each evaluating the next piece
// of customers nobody has taken, until none is left.
type Job struct {
	done  <-chan struct{}
	pb    *rules.Playbook
	snap  *profile.Snapshot
	marks *Marks
	trace bool
	chunk int
	next  atomic.Int64
	parts []*Evaluation
	// working counts the goroutines in Work; Result waits for them.
	working sync.WaitGroup
}

// NewJob prepares the evaluation of pb over snap; nothing is evaluated
// until a goroutine calls Work. It gives up (leaving the evaluation
// partial) when done closes; nil never closes.
func NewJob(done <-chan struct{}, pb *rules.Playbook, snap *profile.Snapshot, marks *Marks, trace bool) *Job {
	n := snap.Len()
	pieces := jobChunks
	if n < 1024 {
		pieces = 1
	}
	chunk := max((n+pieces-1)/pieces, 1)
	return &Job{done: done, pb: pb, snap: snap, marks: marks, trace: trace, chunk: chunk, parts: make([]*Evaluation, (n+chunk-1)/chunk)}
}

// Work evaluates pieces until none is left. Goroutines may call it at
// once and at any time, also after the evaluation is complete.
func (j *Job) Work() {
	j.working.Add(1)
	defer j.working.Done()
	for {
		k := int(j.next.Add(1) - 1)
		if k >= len(j.parts) {
			return
		}
		lo := k * j.chunk
		part := &Evaluation{Counts: NewCounts(j.pb), Trace: j.trace, Marks: j.marks}
		evaluateRange(j.done, j.pb, j.snap, j.marks, lo, min(lo+j.chunk, j.snap.Len()), part)
		j.parts[k] = part
	}
}

// Result waits for the goroutines working on the job and returns the
// evaluation, its pieces joined in customer order. Every piece must have
// been taken: call it after a Work of its own.
func (j *Job) Result() *Evaluation {
	j.working.Wait()
	out := &Evaluation{Counts: NewCounts(j.pb), Trace: j.trace, Marks: j.marks}
	n := 0
	for _, p := range j.parts {
		n += len(p.Decisions)
	}
	out.Decisions = make([]Decision, 0, n)
	for _, p := range j.parts {
		out.Audience += p.Audience
		out.Decisions = append(out.Decisions, p.Decisions...)
		out.Traced = append(out.Traced, p.Traced...)
		for i, c := range p.Counts {
			out.Counts[i].Add(c)
		}
	}
	return out
}

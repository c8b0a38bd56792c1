package profile

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot is every customer's profile at one moment, with the population
// they were scored against. It keeps each profile as a compact row and
// fills a Profile from it on demand (Fill, Profile).
type Snapshot struct {
	Now time.Time
	// Present is false for customers who joined after Now: at that moment
	// they were not in the pond yet.
	Present []bool
	Pop     *Population
	pond    *Pond
	cfg     ProfileConfig
	pr      *profiler
	rows    []row
	// sparse holds the rows, by pond index, of a snapshot of a few
	// customers (event triggers); rows is empty then.
	sparse map[int]*row
	// sparseIDs are the pond indexes of a sparse snapshot's customers.
	sparseIDs map[string]int
	// removed is the pond's count of removed customers when the snapshot
	// was taken (see CustomersRemoved).
	removed uint64
}

// CustomersRemoved reports whether customers have been removed from the
// pond (deleted, merged into another) since the snapshot was taken: then
// its customers may not all be there any more. The caller holds the pond
// still.
func (s *Snapshot) CustomersRemoved() bool { return s.pond.removed != s.removed }

// ProfileBuf is a Profile filled from a snapshot with the numbers its
// nil-able fields point to and the map of its attrs: a worker keeps one
// and refills it for each customer, so evaluating a million customers
// allocates nothing.
type ProfileBuf struct {
	// WithoutAttrs leaves the filled profiles' Attrs map nil (Attr still
	// reads them): for conditions that never read attrs, which then cost
	// no map per customer.
	WithoutAttrs bool

	p     Profile
	slots [slotsPer]int
	attrs map[string]any
	memo  countMemo
}

// Len returns the number of customers the snapshot covers (0 for a
// sparse one).
func (s *Snapshot) Len() int { return len(s.rows) }

// Capacity returns the number of customers the snapshot's memory has
// room for, when a later snapshot reuses it (RecomputeSnapshot).
func (s *Snapshot) Capacity() int { return cap(s.rows) }

func (s *Snapshot) row(i int) *row {
	if s.sparse != nil {
		return s.sparse[i]
	}
	if i < 0 || i >= len(s.rows) {
		return nil
	}
	return &s.rows[i]
}

// Fill fills b with the profile of the customer at pond index i and
// returns it; it stays valid until b is filled again. A customer not in
// the snapshot gets the zero profile.
func (s *Snapshot) Fill(i int, b *ProfileBuf) *Profile {
	r := s.row(i)
	if r == nil || r.cust == nil {
		b.p = Profile{}
		return &b.p
	}
	p := &b.p
	r.fill(p, s.Now, &s.pond.types, b.slots[:])
	p.memo = &b.memo
	if n := p.attrList.Len(); n > 0 && !b.WithoutAttrs {
		if b.attrs == nil {
			b.attrs = make(map[string]any, n)
		}
		clear(b.attrs)
		for a := range p.attrList.All() {
			b.attrs[*a.key] = a.Value
		}
		p.Attrs = b.attrs
	}
	return p
}

// Profile returns the profile of the customer at pond index i, in memory
// of its own: for callers that keep a few profiles; a loop over many
// customers uses Fill.
func (s *Snapshot) Profile(i int) *Profile {
	p := s.Fill(i, &ProfileBuf{WithoutAttrs: true})
	p.Attrs = p.attrList.Map()
	return p
}

// ID returns the id of the customer at pond index i ("" when the
// snapshot does not hold them).
func (s *Snapshot) ID(i int) string {
	if r := s.row(i); r != nil && r.cust != nil {
		return r.cust.ID
	}
	return ""
}

// ComputeSnapshot computes all profiles at now, in parallel.
func ComputeSnapshot(pond *Pond, now time.Time, cfg ProfileConfig) *Snapshot {
	return RecomputeSnapshot(nil, pond, now, cfg)
}

// RecomputeSnapshot computes a snapshot, reusing the memory of old (which
// nothing may use any more) when it is large enough: allocating a million
// rows afresh for every run costs more than computing them.
func RecomputeSnapshot(old *Snapshot, pond *Pond, now time.Time, cfg ProfileConfig) *Snapshot {
	s := computeRows(old, pond, now, cfg)
	parallel(len(s.rows), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if s.Present[i] {
				s.Pop.score(&s.rows[i])
			}
		}
	})
	return s
}

// RecomputePopulation computes the population of pond at now, for scoring
// a few customers' profiles (Pond.Profile, sparse snapshots), in old's
// memory: RecomputeSnapshot without scoring every customer, which no one
// would read. The population shares old's memory: clone it before old is
// used again. old is left holding unscored rows, fit only to be reused.
func RecomputePopulation(old *Snapshot, pond *Pond, now time.Time, cfg ProfileConfig) (*Population, *Snapshot) {
	s := computeRows(old, pond, now, cfg)
	return s.Pop, s
}

// computeRows computes every customer's row at now, in old's memory, and
// the population of them, leaving the rows unscored.
func computeRows(old *Snapshot, pond *Pond, now time.Time, cfg ProfileConfig) *Snapshot {
	cfg = cfg.withDefaults()
	n := pond.Len()
	s := &Snapshot{Now: now, pond: pond, cfg: cfg, removed: pond.removed}
	if old == nil || cap(old.rows) < n {
		old = ReserveSnapshot(n)
	}
	s.rows, s.Present = old.rows[:n], old.Present[:n]
	s.pr = newProfiler(now, cfg, &pond.types)
	parallel(n, func(lo, hi int) {
		var sc scratch
		for i := lo; i < hi; i++ {
			s.Present[i] = !pond.Customers[i].JoinedAfter(now)
			if !s.Present[i] {
				s.rows[i] = row{} // reused memory: read as zero, as when fresh
				continue
			}
			s.rows[i] = s.pr.compute(pond, i, &sc)
		}
	})
	s.Pop = newPopulation(s.rows, cfg.Thresholds, old.Pop)
	return s
}

// ReserveSnapshot allocates the memory of a snapshot of up to n customers,
// with room for a few more to join. The engine allocates it once, when it
// loads the pond, and every run reuses it. Allocating it inside a run
// would also start a garbage collection with the run's goroutines paying
// for its marking (at a million customers that was 0.9 s of a 4 s run).
//
// The memory is touched here, at load, on all cores: fresh pages from the
// kernel fault in on first write, and their faults would otherwise land
// in the first run, making it half again as slow as later ones.
func ReserveSnapshot(n int) *Snapshot {
	n += n / 64
	s := &Snapshot{rows: make([]row, n), Present: make([]bool, n)}
	parallel(n, func(lo, hi int) {
		clear(s.rows[lo:hi])
		clear(s.Present[lo:hi])
	})
	return s
}

// Refresh recomputes customer i's profile after its stored fields, events or
// coupons changed, scoring it against the snapshot's population.
func (s *Snapshot) Refresh(i int) {
	var sc scratch
	s.refresh(i, &sc)
}

func (s *Snapshot) refresh(i int, sc *scratch) {
	s.Present[i] = !s.pond.Customers[i].JoinedAfter(s.Now)
	if !s.Present[i] {
		return
	}
	s.rows[i] = s.pr.compute(s.pond, i, sc)
	s.Pop.score(&s.rows[i])
}

// RefreshAll refreshes the customers at indexes (duplicates allowed), in
// parallel. The caller keeps the pond from changing meanwhile.
func (s *Snapshot) RefreshAll(indexes []int) {
	slices.Sort(indexes)
	indexes = slices.Compact(indexes)
	parallel(len(indexes), func(lo, hi int) {
		var sc scratch
		for _, i := range indexes[lo:hi] {
			s.refresh(i, &sc)
		}
	})
}

// Pond returns the pond the snapshot was computed from.
func (s *Snapshot) Pond() *Pond { return s.pond }

// parallelPieces is how many pieces parallel cuts its range into.
const parallelPieces = 64

// parallel runs fn over [0,n) on all cores, a piece at a time: a core
// that loses time to something else (a collection, the previous run's
// background work) holds the rest up by one piece, where halves made the
// whole wait for the slower core.
func parallel(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1024 || workers == 1 {
		fn(0, n)
		return
	}
	chunk := max((n+parallelPieces-1)/parallelPieces, 512)
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(int64(chunk))) - chunk
			if lo >= n {
				return
			}
			fn(lo, min(lo+chunk, n))
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

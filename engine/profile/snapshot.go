package profile

import (
	"runtime"
	"slices"
	"sync"
	"time"
)

// Snapshot is every customer's profile at one moment, with the population
// they were scored against.
type Snapshot struct {
	Now      time.Time
	Profiles []Profile
	// Present is false for customers who joined after Now: at that moment
	// they were not in the pond yet.
	Present []bool
	Pop     *Population
	pond    *Pond
	cfg     ProfileConfig
	pr      *profiler
	slots   []int // backs the profiles' nil-able numbers
	// sparse holds the profiles, by pond index, of a snapshot of a few
	// customers (event triggers); Profiles is empty then.
	sparse map[int]*Profile
}

// Profile returns the profile of the customer at pond index i.
func (s *Snapshot) Profile(i int) *Profile {
	if s.sparse != nil {
		return s.sparse[i]
	}
	return &s.Profiles[i]
}

// ComputeSnapshot computes all profiles at now, in parallel.
func ComputeSnapshot(pond *Pond, now time.Time, cfg ProfileConfig) *Snapshot {
	return RecomputeSnapshot(nil, pond, now, cfg)
}

// RecomputeSnapshot computes a snapshot, reusing the memory of old (which
// nothing may use any more) when it is large enough: a million profiles
// are 400 MB, and allocating them afresh for every run costs more than
// computing them.
func RecomputeSnapshot(old *Snapshot, pond *Pond, now time.Time, cfg ProfileConfig) *Snapshot {
	cfg = cfg.withDefaults()
	n := pond.Len()
	s := &Snapshot{Now: now, pond: pond, cfg: cfg}
	if old == nil || cap(old.Profiles) < n {
		old = ReserveSnapshot(n)
	}
	s.Profiles, s.Present, s.slots = old.Profiles[:n], old.Present[:n], old.slots[:slotsPer*n]
	slots := s.slots
	s.pr = newProfiler(now, cfg, &pond.types)
	parallel(n, func(lo, hi int) {
		var sc scratch
		for i := lo; i < hi; i++ {
			c := &pond.Customers[i]
			s.Present[i] = !c.JoinedAt.After(now)
			if !s.Present[i] {
				s.Profiles[i] = Profile{} // reused memory: read as zero, as when fresh
				continue
			}
			s.Profiles[i] = s.pr.profile(pond, i, slots[slotsPer*i:slotsPer*(i+1):slotsPer*(i+1)], &sc)
		}
	})
	s.Pop = newPopulation(s.Profiles, cfg.Thresholds, old.Pop)
	parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if s.Present[i] {
				s.Pop.Score(&s.Profiles[i])
			}
		}
	})
	return s
}

// ReserveSnapshot allocates the memory of a snapshot of up to n customers,
// with room for a few more to join. A million profiles are 400 MB: the
// engine allocates them once, when it loads the pond, and every run reuses
// them. Allocating them inside a run would also start a garbage collection
// with the run's goroutines paying for its marking (at a million customers
// that was 0.9 s of a 4 s run).
//
// The memory is touched here, at load, on all cores: fresh pages from the
// kernel fault in on first write, and a million profiles' 100,000-odd
// faults would otherwise land in the first run, making it half again as
// slow as later ones.
func ReserveSnapshot(n int) *Snapshot {
	n += n / 64
	s := &Snapshot{Profiles: make([]Profile, n), Present: make([]bool, n), slots: make([]int, slotsPer*n)}
	parallel(n, func(lo, hi int) {
		clear(s.Profiles[lo:hi])
		clear(s.Present[lo:hi])
		clear(s.slots[slotsPer*lo : slotsPer*hi])
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
	c := &s.pond.Customers[i]
	s.Present[i] = !c.JoinedAt.After(s.Now)
	if !s.Present[i] {
		return
	}
	// The profile's own slots: whatever pointed into them is being replaced.
	s.Profiles[i] = s.pr.profile(s.pond, i, s.slots[slotsPer*i:slotsPer*(i+1):slotsPer*(i+1)], sc)
	s.Pop.Score(&s.Profiles[i])
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

// parallel splits [0,n) into chunks run on all cores.
func parallel(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1024 || workers == 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

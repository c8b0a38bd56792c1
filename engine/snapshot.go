package engine

import (
	"runtime"
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
}

// ComputeSnapshot computes all profiles at now, in parallel.
func ComputeSnapshot(pond *Pond, now time.Time, cfg ProfileConfig) *Snapshot {
	cfg = cfg.withDefaults()
	n := pond.Len()
	s := &Snapshot{Now: now, Profiles: make([]Profile, n), Present: make([]bool, n), pond: pond, cfg: cfg}
	parallel(n, func(lo, hi int) {
		var scratch []order
		for i := lo; i < hi; i++ {
			c := &pond.Customers[i]
			s.Present[i] = !c.JoinedAt.After(now)
			if !s.Present[i] {
				continue
			}
			s.Profiles[i] = baseProfile(c, pond.events[i], pond.coupons[i], &pond.types, now, cfg, &scratch)
		}
	})
	s.Pop = NewPopulation(s.Profiles, cfg.Thresholds)
	parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if s.Present[i] {
				s.Pop.Score(&s.Profiles[i])
			}
		}
	})
	return s
}

// Refresh recomputes customer i's profile after its stored fields, events or
// coupons changed, scoring it against the snapshot's population.
func (s *Snapshot) Refresh(i int) {
	var scratch []order
	c := &s.pond.Customers[i]
	s.Present[i] = !c.JoinedAt.After(s.Now)
	if !s.Present[i] {
		return
	}
	s.Profiles[i] = baseProfile(c, s.pond.events[i], s.pond.coupons[i], &s.pond.types, s.Now, s.cfg, &scratch)
	s.Pop.Score(&s.Profiles[i])
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

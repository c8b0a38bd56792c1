package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// popMaxAge is how far apart two moments may be for one population to
// score profiles of both. RFM quintiles and means move slowly: a
// population of the last hour scores a profile as well as a fresh one, at
// none of the cost (a fresh one takes all profiles: 0.3 s at a million).
const popMaxAge = time.Hour

// population returns a population for scoring profiles at now: the one the
// latest run or lookup computed when it is close enough, otherwise a new
// one computed in the snapshot memory runs share.
func (e *Engine) population(ctx context.Context, pond *profile.Pond, now time.Time) (*profile.Population, error) {
	e.popMu.Lock()
	pop, at := e.pop, e.popAt
	e.popMu.Unlock()
	if pop != nil && now.Sub(at).Abs() <= popMaxAge {
		return pop, nil
	}
	release, err := e.holdSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// A run may have computed one while this waited.
	e.popMu.Lock()
	pop, at = e.pop, e.popAt
	e.popMu.Unlock()
	if pop != nil && now.Sub(at).Abs() <= popMaxAge {
		return pop, nil
	}
	// Only the population is wanted: not the million scores of a
	// snapshot (a quarter of its time).
	e.pondMu.RLock()
	pop, spare := profile.RecomputePopulation(e.takeSpare(), pond, now, e.cfg.Profile)
	e.pondMu.RUnlock()
	defer e.putSpare(spare)
	return e.keepPopulationOf(pop, now), nil
}

// keepPopulation keeps a copy of a snapshot's population for later
// lookups; the snapshot's own is reused by the next run.
func (e *Engine) keepPopulation(snap *profile.Snapshot) *profile.Population {
	return e.keepPopulationOf(snap.Pop, snap.Now)
}

// keepPopulationOf keeps a copy of pop, the population at at.
func (e *Engine) keepPopulationOf(pop *profile.Population, at time.Time) *profile.Population {
	p := pop.Clone()
	e.popMu.Lock()
	e.pop, e.popAt = p, at
	e.popMu.Unlock()
	return p
}

// Profile computes one customer's profile at now.
func (e *Engine) Profile(ctx context.Context, id string, now time.Time) (*profile.Profile, error) {
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	pop, err := e.population(ctx, pond, now)
	if err != nil {
		return nil, err
	}
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	i, ok := pond.Lookup(id)
	if !ok {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", id)}
	}
	p := profile.NewProfiler(pond, now, e.cfg.Profile).Profile(i, nil, pop)
	return &p, nil
}

// EachProfile computes the profile at now of every customer in the pond,
// in pond order from position from, and calls fn with each and its
// position until fn returns false or ctx ends. The profile is only valid
// during the call. Customers who joined after now are left out. Positions
// are stable while the process runs, so they can page a listing.
//
// fn runs without the pond's lock: profiles are computed a few at a time
// under it, then handed out, so a slow fn (an API filter) holds off
// neither ingest nor runs, and ctx is looked at between every few.
func (e *Engine) EachProfile(ctx context.Context, now time.Time, from int, fn func(pos int, p *profile.Profile) bool) error {
	pond, err := e.currentPond(ctx)
	if err != nil {
		return err
	}
	pop, err := e.population(ctx, pond, now)
	if err != nil {
		return err
	}
	return e.eachProfile(ctx, pond, pop, now, from, true, fn)
}

// eachProfile is EachProfile with the population to score RFM against,
// and without the attrs map when withAttrs is false.
func (e *Engine) eachProfile(ctx context.Context, pond *profile.Pond, pop *profile.Population, now time.Time, from int, withAttrs bool, fn func(pos int, p *profile.Profile) bool) error {
	pr := profile.NewProfiler(pond, now, e.cfg.Profile)
	pr.WithoutAttrs = !withAttrs
	const chunk = 16
	profiles := make([]profile.Profile, 0, chunk)
	positions := make([]int, 0, chunk)
	slots := make([]int, profile.SlotsPer*chunk)
	for lo := max(from, 0); ; lo += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		profiles, positions = profiles[:0], positions[:0]
		e.pondMu.RLock()
		n := pond.Len()
		for i := lo; i < min(lo+chunk, n); i++ {
			if pond.Customers[i].JoinedAfter(now) {
				continue
			}
			k := len(profiles)
			p := pr.Profile(i, slots[profile.SlotsPer*k:profile.SlotsPer*(k+1)], pop)
			profiles, positions = append(profiles, p), append(positions, i)
		}
		e.pondMu.RUnlock()
		if lo >= n {
			return nil
		}
		for k := range profiles {
			if !fn(positions[k], &profiles[k]) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
}

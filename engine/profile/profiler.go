package profile

import (
	"slices"
	"time"
)

// SlotsPer is how many ints of backing store one profile's nil-able numbers
// take; a caller computing profiles in a loop gives each SlotsPer of them.
const SlotsPer = slotsPer

// Profiler computes single customers' profiles at one moment, outside a
// full snapshot: the API's lookups and listings, event triggers. It is not
// safe for concurrent use; the caller holds the pond still while it works.
type Profiler struct {
	// WithoutAttrs leaves the profiles' Attrs map nil (Attr still reads
	// them): for callers that never read attrs, which then cost no map per
	// customer (a million maps of garbage for a pass over the pond).
	WithoutAttrs bool

	pond *Pond
	pr   *profiler
	sc   scratch
}

// NewProfiler returns a profiler of pond's customers at now.
func NewProfiler(pond *Pond, now time.Time, cfg ProfileConfig) *Profiler {
	return &Profiler{pond: pond, pr: newProfiler(now, cfg.withDefaults(), &pond.types)}
}

// Profile computes the profile of the customer at pond index i, its
// nil-able numbers kept in slots (SlotsPer of them, or nil to allocate),
// scored against pop when pop is not nil.
func (p *Profiler) Profile(i int, slots []int, pop *Population) Profile {
	if slots == nil {
		slots = make([]int, slotsPer)
	}
	r := p.pr.compute(p.pond, i, &p.sc)
	if pop != nil {
		pop.score(&r)
	}
	var out Profile
	r.fill(&out, p.pr.now, &p.pond.types, slots[:slotsPer:slotsPer])
	if !p.WithoutAttrs {
		out.Attrs = out.attrList.Map()
	}
	return out
}

// SparseSnapshot computes the profiles at now of the customers at pond
// indexes (which the caller looked up and keeps still), scored against
// pop: a snapshot of a few customers, for event-triggered rules.
func SparseSnapshot(pond *Pond, pop *Population, indexes []int, now time.Time, cfg ProfileConfig) *Snapshot {
	cfg = cfg.withDefaults()
	snap := &Snapshot{Now: now, pond: pond, cfg: cfg, Pop: pop, sparse: make(map[int]*row, len(indexes)), sparseIDs: make(map[string]int, len(indexes)), removed: pond.removed}
	snap.pr = newProfiler(now, cfg, &pond.types)
	var sc scratch
	for _, i := range indexes {
		r := snap.pr.compute(pond, i, &sc)
		pop.score(&r)
		snap.sparse[i] = &r
		snap.sparseIDs[r.cust.ID] = i
	}
	return snap
}

// Config returns the profile settings the snapshot was computed with.
func (s *Snapshot) Config() ProfileConfig { return s.cfg }

// Sparse reports whether the snapshot holds only a few customers' profiles
// (SparseSnapshot); Len is 0 then and Profile(i) is the way in.
func (s *Snapshot) Sparse() bool { return s.sparse != nil }

// SparseIndex returns the pond index of customer id in a sparse snapshot,
// false when the snapshot does not hold them: found when it was computed,
// so the caller need not look them up in the pond again (under its lock).
func (s *Snapshot) SparseIndex(id string) (int, bool) {
	i, ok := s.sparseIDs[id]
	return i, ok
}

// Clone returns a copy of the population that shares nothing with pop,
// whose memory the next snapshot reuses.
func (pop *Population) Clone() *Population {
	p := *pop
	// Scoring reads spend's cuts, not the spends.
	p.recency, p.orders, p.spend, p.spendTmp = slices.Clone(p.recency), slices.Clone(p.orders), nil, nil
	p.recencyRank.below, p.ordersRank.below = slices.Clone(p.recencyRank.below), slices.Clone(p.ordersRank.below)
	return &p
}

// ContactsOf returns the customer's messages as of the snapshot the
// profile belongs to, in time order, for the contact policy.
func ContactsOf(p *Profile) []ContactMark { return p.contacts }

// OptOutOf returns the channels the customer opted out of.
func OptOutOf(p *Profile) []string { return p.optOut }

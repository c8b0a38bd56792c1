package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// stagedEffects gives actions the effects of actions.Effects within a batch
// of fires. A fire's effects are staged until its actions all succeed
// (keep), or dropped when one fails (discard); kept effects accumulate in
// out, which the batch writes at once.
type stagedEffects struct {
	tx   FireTx
	snap *profile.Snapshot
	// fromPond is true when the pond holds exactly what the transaction
	// sees (no one else wrote since it was loaded), so customers' stored
	// state is read from memory instead of the database.
	fromPond bool
	// prefetch lists the customers whose state to read on first need, in
	// one query for the whole batch, when the pond cannot be trusted.
	prefetch []string
	fetched  bool
	// states holds customers' state as the batch has left it so far.
	states map[string]domain.CustomerState
	out    *domain.BatchEffects
	muts   []mutation
	// fatal is a store error met while serving an action: it fails the
	// batch, not just the fire.
	fatal error

	// The current fire and action, and the fire's staged effects.
	fire *actions.Fire
	// delay holds the current fire's messages back (quiet hours, a
	// deferred cap).
	delay       time.Duration
	maxAttempts int
	hasWorker   func(kind string) bool
	coupons     []actions.Coupon
	tags        map[string][]string
	tiers       map[string]string
	custGuides  map[string]string
	tasks       []domain.NewTask
	jobs        []domain.NewJob
	contacts    []domain.Contact

	// guides are the configured guides; loads their open tasks as the
	// batch has left them (nil until first needed), last the guide most
	// recently given a task.
	guides []actions.Guide
	loads  map[string]int
	last   string
}

var _ actions.Effects = (*stagedEffects)(nil)

// newStagedEffects returns staged effects for a batch of about fires
// fires, sized so that a batch of one action each grows nothing.
func newStagedEffects(tx FireTx, snap *profile.Snapshot, fromPond bool, fires int) *stagedEffects {
	return &stagedEffects{
		tx: tx, snap: snap, fromPond: fromPond,
		states: make(map[string]domain.CustomerState, fires),
		out:    &domain.BatchEffects{Coupons: make([]actions.Coupon, 0, fires), Tags: map[string][]string{}, Tiers: map[string]string{}, Guides: map[string]string{}},
		muts:   make([]mutation, 0, fires),
		tags:   map[string][]string{}, tiers: map[string]string{}, custGuides: map[string]string{},
	}
}

// stored returns a customer's state as committed before this batch.
func (s *stagedEffects) stored(id string) (domain.CustomerState, bool, error) {
	if s.fromPond {
		i, ok := s.snap.Pond().Lookup(id)
		if !ok {
			return domain.CustomerState{}, false, nil
		}
		c := &s.snap.Pond().Customers[i]
		return domain.CustomerState{Tier: c.Tier, Tags: c.Tags, Guide: c.Guide}, true, nil
	}
	if !s.fetched {
		s.fetched = true
		states, err := s.tx.CustomerStates(s.prefetch)
		if err != nil {
			return domain.CustomerState{}, false, err
		}
		for id, st := range states {
			s.states[id] = st
		}
		if st, ok := states[id]; ok {
			return st, true, nil
		}
	}
	// A customer outside the prefetch: an action touching someone else.
	more, err := s.tx.CustomerStates([]string{id})
	if err != nil {
		return domain.CustomerState{}, false, err
	}
	st, ok := more[id]
	return st, ok, nil
}

// state returns a customer's tier and tags as the batch has left them so
// far, including the current fire's staged changes.
func (s *stagedEffects) state(id string) (domain.CustomerState, error) {
	st, ok := s.states[id]
	if !ok {
		var err error
		st, ok, err = s.stored(id)
		if err != nil {
			s.fatal = err
			return domain.CustomerState{}, err
		}
		if !ok {
			return st, fmt.Errorf("no customer %s", id)
		}
		s.states[id] = st
	}
	if t, ok := s.tags[id]; ok {
		st.Tags = t
	}
	if t, ok := s.tiers[id]; ok {
		st.Tier = t
	}
	if g, ok := s.custGuides[id]; ok {
		st.Guide = g
	}
	return st, nil
}

// IssueCoupon stages a coupon.
func (s *stagedEffects) IssueCoupon(c actions.Coupon) error {
	if _, err := s.state(c.CustomerID); err != nil {
		return err
	}
	s.coupons = append(s.coupons, c)
	return nil
}

// UpdateTags stages a change of tags, keeping the stored order.
func (s *stagedEffects) UpdateTags(customerID string, add, remove []string) ([]string, error) {
	st, err := s.state(customerID)
	if err != nil {
		return nil, err
	}
	// A fresh slice: the old one may be shared with the pond and snapshots.
	tags := actions.ChangeTags(st.Tags, add, remove)
	s.tags[customerID] = tags
	return tags, nil
}

// SetTier stages a change of tier.
func (s *stagedEffects) SetTier(customerID, tier string) error {
	if _, err := s.state(customerID); err != nil {
		return err
	}
	s.tiers[customerID] = tier
	return nil
}

// Enqueue stages a job of the current fire's current action.
func (s *stagedEffects) Enqueue(j actions.Job) error {
	f := s.fire
	if j.Kind == "" {
		return fmt.Errorf("enqueue: a job needs a kind")
	}
	if !s.hasWorker(j.Kind) {
		return fmt.Errorf("enqueue: no worker is registered for jobs of kind %q", j.Kind)
	}
	payload, err := json.Marshal(j.Payload)
	if err != nil {
		return fmt.Errorf("enqueue %s: payload: %w", j.Kind, err)
	}
	nj := domain.NewJob{
		Key: f.Key + "#" + strconv.Itoa(f.Index), Kind: j.Kind, Channel: j.Channel,
		FireID: f.FireID, Playbook: f.Playbook, Rule: f.Rule, CustomerID: f.CustomerID,
		Payload: payload, Batch: j.Batch, MaxAttempts: s.maxAttempts,
	}
	if j.Channel != "" && !j.NotContact {
		// A message to the customer: it waits with the fire's delay, and
		// it is contact history.
		nj.Delay = s.delay
		s.contacts = append(s.contacts, domain.Contact{CustomerID: f.CustomerID, Channel: j.Channel, At: f.At.Add(s.delay), FireID: f.FireID, JobKey: nj.Key})
	}
	s.jobs = append(s.jobs, nj)
	return nil
}

// keep moves the current fire's staged effects into the batch.
func (s *stagedEffects) keep() {
	s.out.Jobs = append(s.out.Jobs, s.jobs...)
	for _, c := range s.contacts {
		s.out.Contacts = append(s.out.Contacts, c)
		if i, ok := s.snap.Pond().Lookup(c.CustomerID); ok {
			s.muts = append(s.muts, mutation{cust: i, contact: &profile.ContactMark{At: c.At.UnixMilli(), Channel: c.Channel}})
		}
	}
	for _, c := range s.coupons {
		s.out.Coupons = append(s.out.Coupons, c)
		if i, ok := s.snap.Pond().Lookup(c.CustomerID); ok {
			s.muts = append(s.muts, mutation{cust: i, coupon: &domain.IssuedCoupon{Code: c.Code, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}})
		}
	}
	keepChanges(s, s.tags, s.out.Tags, func(st *domain.CustomerState, v []string) { st.Tags = v }, func(m *mutation, v *[]string) { m.tags = v })
	keepChanges(s, s.tiers, s.out.Tiers, func(st *domain.CustomerState, v string) { st.Tier = v }, func(m *mutation, v *string) { m.tier = v })
	keepChanges(s, s.custGuides, s.out.Guides, func(st *domain.CustomerState, v string) { st.Guide = v }, func(m *mutation, v *string) { m.guide = v })
	for _, t := range s.tasks {
		s.loads[t.Guide]++
		s.last = t.Guide
	}
	s.out.Tasks = append(s.out.Tasks, s.tasks...)
	s.discard()
}

// keepChanges moves one kind of staged customer change (tags, tier,
// guide) into the batch: into out, into the customers' state as the batch
// has left it, and into a mutation for the pond.
func keepChanges[V any](s *stagedEffects, staged, out map[string]V, set func(*domain.CustomerState, V), mutate func(*mutation, *V)) {
	for id, v := range staged {
		out[id] = v
		st := s.states[id]
		set(&st, v)
		s.states[id] = st
		if i, ok := s.snap.Pond().Lookup(id); ok {
			m := mutation{cust: i}
			mutate(&m, &v)
			s.muts = append(s.muts, m)
		}
	}
}

// discard drops the current fire's staged effects.
func (s *stagedEffects) discard() {
	s.coupons = s.coupons[:0]
	s.jobs = s.jobs[:0]
	s.contacts = s.contacts[:0]
	s.tasks = s.tasks[:0]
	clear(s.tags)
	clear(s.tiers)
	clear(s.custGuides)
}

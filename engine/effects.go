package engine

import (
	"fmt"
	"slices"

	"github.com/koihq/koi/actions"
)

// stagedEffects gives actions the effects of actions.Effects within a batch
// of fires. A fire's effects are staged until its actions all succeed
// (keep), or dropped when one fails (discard); kept effects accumulate in
// out, which the batch writes at once.
type stagedEffects struct {
	tx   FireTx
	snap *Snapshot
	// prefetch lists the customers whose state to read on first need, in
	// one query for the whole batch.
	prefetch []string
	states   map[string]CustomerState
	out      *BatchEffects
	muts     []mutation
	// fatal is a store error met while serving an action: it fails the
	// batch, not just the fire.
	fatal error

	// The current fire's staged effects.
	coupons []actions.Coupon
	tags    map[string][]string
	tiers   map[string]string
}

var _ actions.Effects = (*stagedEffects)(nil)

func newStagedEffects(tx FireTx, snap *Snapshot) *stagedEffects {
	return &stagedEffects{
		tx: tx, snap: snap,
		out:  &BatchEffects{Tags: map[string][]string{}, Tiers: map[string]string{}},
		tags: map[string][]string{}, tiers: map[string]string{},
	}
}

// state returns a customer's tier and tags as the batch has left them so
// far, including the current fire's staged changes.
func (s *stagedEffects) state(id string) (CustomerState, error) {
	if s.states == nil {
		states, err := s.tx.CustomerStates(s.prefetch)
		if err != nil {
			s.fatal = err
			return CustomerState{}, err
		}
		s.states = states
	}
	st, ok := s.states[id]
	if !ok && !slices.Contains(s.prefetch, id) {
		// An action touching a customer outside the batch.
		more, err := s.tx.CustomerStates([]string{id})
		if err != nil {
			s.fatal = err
			return CustomerState{}, err
		}
		s.prefetch = append(s.prefetch, id)
		st, ok = more[id]
		if ok {
			s.states[id] = st
		}
	}
	if !ok {
		return st, fmt.Errorf("no customer %s", id)
	}
	if t, ok := s.tags[id]; ok {
		st.Tags = t
	}
	if t, ok := s.tiers[id]; ok {
		st.Tier = t
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
	tags := make([]string, 0, len(st.Tags)+len(add))
	for _, t := range st.Tags {
		if !slices.Contains(remove, t) {
			tags = append(tags, t)
		}
	}
	for _, t := range add {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
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

// keep moves the current fire's staged effects into the batch.
func (s *stagedEffects) keep() {
	for _, c := range s.coupons {
		s.out.Coupons = append(s.out.Coupons, c)
		if i, ok := s.snap.pond.Lookup(c.CustomerID); ok {
			s.muts = append(s.muts, mutation{cust: i, coupon: &IssuedCoupon{Code: c.Code, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}})
		}
	}
	for id, tags := range s.tags {
		s.out.Tags[id] = tags
		st := s.states[id]
		st.Tags = tags
		s.states[id] = st
		if i, ok := s.snap.pond.Lookup(id); ok {
			s.muts = append(s.muts, mutation{cust: i, tags: &tags})
		}
	}
	for id, tier := range s.tiers {
		s.out.Tiers[id] = tier
		st := s.states[id]
		st.Tier = tier
		s.states[id] = st
		if i, ok := s.snap.pond.Lookup(id); ok {
			s.muts = append(s.muts, mutation{cust: i, tier: &tier})
		}
	}
	s.discard()
}

// discard drops the current fire's staged effects.
func (s *stagedEffects) discard() {
	s.coupons = s.coupons[:0]
	clear(s.tags)
	clear(s.tiers)
}

// Package stage gives actions their effects (actions.Effects) inside the
// transaction that writes a batch of fires: coupons, tags, tiers, guides,
// tasks and outbox jobs are staged per fire, kept when all of the fire's
// actions succeed and dropped when one fails, and handed to the store
// together. It reads customers' stored state from the pond when the pond
// is current, else from the transaction.
package stage

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// Effects gives actions the effects of actions.Effects within a batch
// of fires. A fire's effects are staged until its actions all succeed
// (keep), or dropped when one fails (discard); kept effects accumulate in
// out, which the batch writes at once.
type Effects struct {
	tx   Tx
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
	muts   []profile.Change
	// fatal is a store error met while serving an action: it fails the
	// batch, not just the fire.
	fatal error

	// The current fire and action, and the fire's staged effects.
	fire *actions.Fire
	// firePos is the index of the current fire's customer in the pond of
	// snap (-1: not known).
	firePos int
	// delay holds the current fire's messages back (quiet hours, a
	// deferred cap).
	delay       time.Duration
	MaxAttempts int
	HasWorker   func(kind string) bool
	coupons     []actions.Coupon
	tags        map[string][]string
	tiers       map[string]string
	custGuides  map[string]string
	tasks       []domain.NewTask
	jobs        []domain.NewJob
	contacts    []domain.Contact

	// Guides are the configured Guides; loads their open tasks as the
	// batch has left them (nil until first needed), last the guide most
	// recently given a task.
	Guides []actions.Guide
	loads  map[string]int
	last   string

	// TagSync maps, per channel that syncs tags, koi tags to the
	// channel's (engine.Config.TagSync).
	TagSync map[string]map[string]string
}

var _ actions.Effects = (*Effects)(nil)

// Tx is what staging reads of the fire transaction (engine.FireTx).
type Tx interface {
	// CustomerStates reads the stored tier, tags and guide of customers.
	CustomerStates(ids []string) (map[string]domain.CustomerState, error)
	// GuideLoads reads how many open tasks each guide has and which guide
	// was most recently given a task.
	GuideLoads() (open map[string]int, last string, err error)
}

// New returns staged effects for a batch of about fires
// fires, sized so that a batch of one action each grows nothing.
func New(tx Tx, snap *profile.Snapshot, fromPond bool, fires int) *Effects {
	return &Effects{
		tx: tx, snap: snap, fromPond: fromPond,
		states: make(map[string]domain.CustomerState, fires),
		out:    &domain.BatchEffects{Coupons: make([]actions.Coupon, 0, fires), Tags: map[string][]string{}, Tiers: map[string]string{}, Guides: map[string]string{}},
		muts:   make([]profile.Change, 0, fires),
		tags:   map[string][]string{}, tiers: map[string]string{}, custGuides: map[string]string{},
	}
}

// Reuse returns staged effects for a new batch in the memory of old, whose
// batch is over (its Out written, its Changes applied), or New's when old
// is nil. A run stages batch after batch of thousands of fires, and each
// fresh set of maps and slices sized for a batch was a sixth of what a run
// allocated.
func Reuse(old *Effects, tx Tx, snap *profile.Snapshot, fromPond bool, fires int) *Effects {
	if old == nil {
		return New(tx, snap, fromPond, fires)
	}
	out := old.out
	for _, m := range []map[string]string{out.Tiers, out.Guides, old.tiers, old.custGuides} {
		clear(m)
	}
	clear(out.Tags)
	clear(old.tags)
	clear(old.states)
	*out = domain.BatchEffects{Coupons: out.Coupons[:0], Tags: out.Tags, Tiers: out.Tiers, Guides: out.Guides}
	// Everything else starts as New leaves it.
	*old = Effects{
		tx: tx, snap: snap, fromPond: fromPond, states: old.states, out: out, muts: old.muts[:0],
		coupons: old.coupons[:0], tags: old.tags, tiers: old.tiers, custGuides: old.custGuides,
		tasks: old.tasks[:0], jobs: old.jobs[:0], contacts: old.contacts[:0],
	}
	return old
}

// stored returns a customer's state as committed before this batch.
func (s *Effects) stored(id string) (domain.CustomerState, bool, error) {
	if s.fromPond {
		i, ok := s.posOf(id)
		if !ok {
			return domain.CustomerState{}, false, nil
		}
		c := s.snap.Pond().Customers[i]
		return domain.CustomerState{Tier: c.Tier(), Tags: c.Tags(), Guide: c.Guide()}, true, nil
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
func (s *Effects) state(id string) (domain.CustomerState, error) {
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
func (s *Effects) IssueCoupon(c actions.Coupon) error {
	if _, err := s.state(c.CustomerID); err != nil {
		return err
	}
	s.coupons = append(s.coupons, c)
	return nil
}

// UpdateTags stages a change of tags, keeping the stored order.
func (s *Effects) UpdateTags(customerID string, add, remove []string) ([]string, error) {
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
func (s *Effects) SetTier(customerID, tier string) error {
	if _, err := s.state(customerID); err != nil {
		return err
	}
	s.tiers[customerID] = tier
	return nil
}

// Enqueue stages a job of the current fire's current action.
func (s *Effects) Enqueue(j actions.Job) error {
	f := s.fire
	if j.Kind == "" {
		return fmt.Errorf("enqueue: a job needs a kind")
	}
	if !s.HasWorker(j.Kind) {
		return fmt.Errorf("enqueue: no worker is registered for jobs of kind %q", j.Kind)
	}
	payload, err := json.Marshal(j.Payload)
	if err != nil {
		return fmt.Errorf("enqueue %s: payload: %w", j.Kind, err)
	}
	nj := domain.NewJob{
		Key: f.Key + "#" + strconv.Itoa(f.Index), Kind: j.Kind, Channel: j.Channel,
		FireID: f.FireID, Playbook: f.Playbook, Rule: f.Rule, CustomerID: f.CustomerID,
		Payload: payload, Batch: j.Batch, MaxAttempts: s.MaxAttempts,
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

// Keep moves the current fire's staged effects into the batch.
func (s *Effects) Keep() {
	s.out.Jobs = append(s.out.Jobs, s.jobs...)
	for _, c := range s.contacts {
		s.out.Contacts = append(s.out.Contacts, c)
		if i, ok := s.posOf(c.CustomerID); ok {
			s.muts = append(s.muts, profile.Change{Cust: i, Contact: &profile.ContactMark{At: c.At.UnixMilli(), Channel: c.Channel}})
		}
	}
	for _, c := range s.coupons {
		s.out.Coupons = append(s.out.Coupons, c)
		if i, ok := s.posOf(c.CustomerID); ok {
			s.muts = append(s.muts, profile.Change{Cust: i, Coupon: &domain.IssuedCoupon{Code: c.Code, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}})
		}
	}
	s.syncTags()
	keepChanges(s, s.tags, s.out.Tags, func(st *domain.CustomerState, v []string) { st.Tags = v }, func(m *profile.Change, v *[]string) { m.Tags = v })
	keepChanges(s, s.tiers, s.out.Tiers, func(st *domain.CustomerState, v string) { st.Tier = v }, func(m *profile.Change, v *string) { m.Tier = v })
	keepChanges(s, s.custGuides, s.out.Guides, func(st *domain.CustomerState, v string) { st.Guide = v }, func(m *profile.Change, v *string) { m.Guide = v })
	for _, t := range s.tasks {
		s.loads[t.Guide]++
		s.last = t.Guide
	}
	s.out.Tasks = append(s.out.Tasks, s.tasks...)
	s.Discard()
}

// syncTags enqueues, for each customer whose tags the current fire
// changes, the tag sync jobs of their change (TagSyncJobs). It runs before
// the fire's tags are kept, while the customer's state is still the one
// before the fire.
func (s *Effects) syncTags() {
	if len(s.TagSync) == 0 || len(s.tags) == 0 {
		return
	}
	f := s.fire
	for _, id := range slices.Sorted(maps.Keys(s.tags)) {
		for _, j := range TagSyncJobs(s.TagSync, f.Key, id, s.states[id].Tags, s.tags[id], false) {
			j.FireID, j.Playbook, j.Rule, j.MaxAttempts = f.FireID, f.Playbook, f.Rule, s.MaxAttempts
			s.out.Jobs = append(s.out.Jobs, j)
		}
	}
}

// TagSyncJobs returns, for each channel of sync (koi tag → the channel's
// tag, by channel) that maps a tag the customer gained or lost from before
// to after (every channel, with force), an actions.TagSyncKind job keyed
// key#tags:CHANNEL:CUSTOMER. Its payload says what changed; its delivery
// marks what the customer has then (see actions/tag).
func TagSyncJobs(sync map[string]map[string]string, key, customerID string, before, after []string, force bool) []domain.NewJob {
	var out []domain.NewJob
	for _, ch := range slices.Sorted(maps.Keys(sync)) {
		m := sync[ch]
		p := actions.TagSyncPayload{Channel: ch}
		for _, t := range after {
			if remote, ok := m[t]; ok && !slices.Contains(before, t) {
				p.Add = append(p.Add, remote)
			}
		}
		for _, t := range before {
			if remote, ok := m[t]; ok && !slices.Contains(after, t) {
				p.Remove = append(p.Remove, remote)
			}
		}
		if len(p.Add) == 0 && len(p.Remove) == 0 && !force {
			continue
		}
		payload, _ := json.Marshal(p)
		out = append(out, domain.NewJob{Key: key + "#tags:" + ch + ":" + customerID, Kind: actions.TagSyncKind, Channel: ch,
			CustomerID: customerID, Payload: payload})
	}
	return out
}

// keepChanges moves one kind of staged customer change (tags, tier,
// guide) into the batch: into out, into the customers' state as the batch
// has left it, and into a mutation for the pond.
func keepChanges[V any](s *Effects, staged, out map[string]V, set func(*domain.CustomerState, V), mutate func(*profile.Change, *V)) {
	for id, v := range staged {
		out[id] = v
		st := s.states[id]
		set(&st, v)
		s.states[id] = st
		if i, ok := s.posOf(id); ok {
			m := profile.Change{Cust: i}
			mutate(&m, &v)
			s.muts = append(s.muts, m)
		}
	}
}

// Discard drops the current fire's staged effects.
func (s *Effects) Discard() {
	s.coupons = s.coupons[:0]
	s.jobs = s.jobs[:0]
	s.contacts = s.contacts[:0]
	s.tasks = s.tasks[:0]
	clear(s.tags)
	clear(s.tiers)
	clear(s.custGuides)
}

// FromPond reports whether customers' stored state is read from the pond;
// when it is not, the caller names the batch's customers with Prefetch.
func (s *Effects) FromPond() bool { return s.fromPond }

// Prefetch adds a customer whose stored state to read, with the others,
// on first need.
func (s *Effects) Prefetch(customerID string) { s.prefetch = append(s.prefetch, customerID) }

// Begin starts staging the effects of fire f, whose messages wait delay
// (quiet hours, a deferred cap).
func (s *Effects) Begin(f *actions.Fire, delay time.Duration) { s.BeginAt(f, delay, -1) }

// posOf returns the index of customer id in the pond of the batch's
// snapshot: where the current fire's customer is, without a lookup, when
// it is theirs (BeginAt).
func (s *Effects) posOf(id string) (int, bool) {
	hint := -1
	if s.fire != nil && id == s.fire.CustomerID {
		hint = s.firePos
	}
	return s.snap.Pond().LookupAt(hint, id)
}

// BeginAt is Begin for a fire whose customer is at index pos of the pond
// of the batch's snapshot: their stored state is then read from there
// without a lookup by id (profile.Pond.LookupAt).
func (s *Effects) BeginAt(f *actions.Fire, delay time.Duration, pos int) {
	s.fire, s.delay, s.firePos = f, delay, pos
}

// Fatal is the store error met while serving an action, if any: it fails
// the batch, not just the fire.
func (s *Effects) Fatal() error { return s.fatal }

// Out returns the batch's kept effects, for the store to write.
func (s *Effects) Out() *domain.BatchEffects { return s.out }

// Changes returns the kept changes the pond must reflect once the batch
// commits.
func (s *Effects) Changes() []profile.Change { return s.muts }

package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/stage"
)

// The engine keeps the pond in memory between runs: loading a million
// customers and ten million events takes seconds, evaluating them a
// fraction of that. SQLite stays the truth. Writes that go through the
// engine update the pond as they commit; the pond version (see Store) tells
// when anyone else wrote, and then the pond is loaded again.

// Warm loads the pond into memory, or reloads it if the store has changed
// behind the engine's back. Servers call it at start-up; Run calls it too.
func (e *Engine) Warm(ctx context.Context) error {
	_, err := e.currentPond(ctx)
	return err
}

// currentPond returns the in-memory pond, loading it when it is missing or
// out of date.
func (e *Engine) currentPond(ctx context.Context) (*profile.Pond, error) {
	v, err := e.store.PondVersion(ctx)
	if err != nil {
		return nil, err
	}
	if p := e.residentPond(v); p != nil {
		return p, nil
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if v, err = e.store.PondVersion(ctx); err != nil {
		return nil, err
	}
	if p := e.residentPond(v); p != nil {
		return p, nil // another goroutine loaded it meanwhile
	}
	start := time.Now()
	p, err := e.store.LoadPond(ctx)
	if err != nil {
		return nil, fmt.Errorf("load pond: %w", err)
	}
	e.log.Debug("pond loaded", "customers", p.Len(), "events", p.EventCount(), "version", p.Version, "took", time.Since(start))
	h, err := e.loadHistory(ctx, p)
	if err != nil {
		return nil, err
	}
	e.pondMu.Lock()
	e.pond, e.history = p, h
	e.pondMu.Unlock()
	// Have the snapshot memory ready before the first run (see snapshotMemory).
	if s := e.takeSpare(); s != nil && s.Capacity() >= p.Len() {
		e.putSpare(s)
	} else {
		e.putSpare(profile.ReserveSnapshot(p.Len()))
	}
	return p, nil
}

// residentPond returns the pond if it reflects version v.
func (e *Engine) residentPond(v int64) *profile.Pond {
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	if e.pond != nil && e.pond.Version == v {
		return e.pond
	}
	return nil
}

// pondIsCurrent reports whether p reflects exactly the store's version v.
// The caller holds writeMu, so p does not change while it relies on that.
func (e *Engine) pondIsCurrent(p *profile.Pond, v int64) bool {
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	return p.Version == v
}

// applyToPond applies a committed change to the pond when the pond was
// exactly one version behind it; otherwise another process wrote as well,
// and the pond is marked for reloading. The caller holds writeMu.
func (e *Engine) applyToPond(version int64, apply func(p *profile.Pond)) {
	e.pondMu.Lock()
	defer e.pondMu.Unlock()
	if e.pond == nil {
		return
	}
	if e.pond.Version+1 != version {
		e.pond.Version = -1
		return
	}
	apply(e.pond)
	if e.pond.Version != -1 { // apply may have found the pond wanting
		e.pond.Version = version
	}
}

// applyMutations applies a committed batch of fires to the pond: the
// engine's, and the run's if the engine has loaded another meanwhile. The
// run's snapshot is brought up to date by Snapshot.Refresh of the customers
// changed.
func (e *Engine) applyMutations(snap *profile.Snapshot, muts []profile.Change, version int64) {
	apply := func(p *profile.Pond) { p.Apply(muts) }
	e.pondMu.RLock()
	same := e.pond == snap.Pond()
	e.pondMu.RUnlock()
	if same {
		e.applyToPond(version, apply)
		return
	}
	// The engine reloaded its pond during the run: keep the run's own
	// pond consistent, and have the engine's reloaded again.
	e.pondMu.Lock()
	apply(snap.Pond())
	if e.pond != nil {
		e.pond.Version = -1
	}
	e.pondMu.Unlock()
}

// PutCustomers stores customers and updates the pond (StoreCustomers,
// from the API).
func (e *Engine) PutCustomers(ctx context.Context, cs []domain.Customer, now time.Time) error {
	_, err := e.StoreCustomers(ctx, cs, now, "api")
	return err
}

// StoreCustomers stores customers and updates the pond. A customer without
// a join time joins now; a stored one keeps theirs. A record naming another customer's identity
// merges the two (DESIGN §11); source says where the records came from,
// for the merges' record.
func (e *Engine) StoreCustomers(ctx context.Context, cs []domain.Customer, now time.Time, source string) (domain.StoredCustomers, error) {
	for i := range cs {
		if err := domain.ValidateCustomer(&cs[i], e.cfg.Tiers); err != nil {
			return domain.StoredCustomers{}, fmt.Errorf("customer %s: %w", cs[i].ID, err)
		}
	}
	for i := range cs {
		// Without one, a new customer joins now and a stored one keeps
		// theirs (the store's rule; the pond follows it below).
		cs[i].JoinedAt = cs[i].JoinedAt.Truncate(time.Millisecond)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	res, err := e.store.StoreCustomers(ctx, domain.CustomerBatch{Customers: cs, Now: now, Tiers: e.cfg.Tiers, Source: source, TagJobs: e.tagJobs()})
	if err != nil {
		return res, err
	}
	ids := make([]string, len(cs))
	for i := range cs {
		ids[i] = cs[i].ID
	}
	if res.Jobs > 0 && e.cfg.JobsQueued != nil {
		e.cfg.JobsQueued(res.Jobs)
	}
	e.afterStore(ctx, res, ids, func(p *profile.Pond, own func(int) bool) {
		for i, c := range cs {
			if !own(i) {
				continue // in res.Final
			}
			if c.JoinedAt.IsZero() {
				c.JoinedAt = time.UnixMilli(now.UnixMilli()).UTC()
				if i, ok := p.Lookup(c.ID); ok {
					c.JoinedAt = p.Customers[i].JoinedAt()
				}
			}
			p.PutCustomer(c)
		}
	})
	return res, nil
}

// tagJobs is the TagJobs of a batch of customers (see TagJobsFor).
func (e *Engine) tagJobs() func(key, customerID string, before, after []string, force bool) []domain.NewJob {
	return TagJobsFor(e.cfg.TagSync, e.cfg.MaxAttempts)
}

// TagJobsFor returns a CustomerBatch's TagJobs for channels syncing tags
// (Config.TagSync): the tag sync jobs of a customer's change of tags, each
// tried maxAttempts times (the engine's default for 0). It is nil when no
// channel syncs tags.
func TagJobsFor(sync map[string]map[string]string, maxAttempts int) func(key, customerID string, before, after []string, force bool) []domain.NewJob {
	if len(sync) == 0 {
		return nil
	}
	if maxAttempts <= 0 {
		maxAttempts = defaultMaxAttempts
	}
	return func(key, customerID string, before, after []string, force bool) []domain.NewJob {
		jobs := stage.TagSyncJobs(sync, key, customerID, before, after, force)
		for i := range jobs {
			jobs[i].MaxAttempts = maxAttempts
		}
		return jobs
	}
}

// afterStore brings the pond up to a store of customers: apply puts the
// records stored as given (res.IDs[i] == ids[i]); merges move the merged
// customers' events, coupons and messages to their survivors, whose
// records and those a record added to come from res.Final; and the fire
// history reads each survivor's fires again (merges number them anew).
// When the pond cannot follow (another process wrote too, or a customer
// is missing from it), it is loaded again on next use.
func (e *Engine) afterStore(ctx context.Context, res domain.StoredCustomers, ids []string, apply func(p *profile.Pond, own func(i int) bool)) {
	if o := e.cfg.Observer; o != nil && len(res.Merges) > 0 {
		o.CustomersMerged(len(res.Merges))
	}
	own := func(i int) bool { return res.IDs[i] == ids[i] }
	if len(res.Merges) == 0 && len(res.Final) == 0 {
		if apply != nil {
			e.applyToPond(res.Version, func(p *profile.Pond) { apply(p, own) })
		}
		return
	}
	var pond *profile.Pond
	e.applyToPond(res.Version, func(p *profile.Pond) {
		pond = p
		final := make(map[string]domain.Customer, len(res.Final))
		for _, c := range res.Final {
			final[c.ID] = c
		}
		for _, m := range res.Merges {
			if _, ok := p.Lookup(m.Merged); !ok {
				continue // new in this batch: nothing of theirs in memory
			}
			if _, ok := p.Lookup(m.Survivor); !ok {
				c, ok := final[m.Survivor]
				if !ok {
					p.Version = -1
					return
				}
				p.PutCustomer(c) // new in this batch, older than who it merged
			}
			if !p.MergeCustomer(m.Survivor, m.Merged) {
				p.Version = -1
				return
			}
		}
		if apply != nil {
			apply(p, own)
		}
		for _, c := range res.Final {
			p.PutCustomer(c)
		}
	})
	h := e.historyOf(pond)
	if pond == nil || h == nil || len(res.Merges) == 0 {
		return
	}
	survivors := map[string]bool{}
	for _, m := range res.Merges {
		survivors[m.Survivor] = true
	}
	for id := range survivors {
		pos, ok := pond.Lookup(id)
		fires, err := e.store.CustomerFires(ctx, id)
		if !ok || err != nil {
			e.pondMu.Lock()
			pond.Version = -1 // load it all again rather than guess
			e.pondMu.Unlock()
			return
		}
		for _, f := range fires {
			h.NoteFire(evaluate.RuleRef{Playbook: f.Playbook, Rule: f.Rule}, pos, f.Seq, f.At, f.Group, f.GroupSeq)
		}
	}
}

// Tiers returns the configured tiers, lowest first.
func (e *Engine) Tiers() []string { return e.cfg.Tiers }

// LastRunAt returns when the latest finished run of a playbook evaluated,
// and false when it never ran.
func (e *Engine) LastRunAt(ctx context.Context, playbook string) (time.Time, bool, error) {
	return e.store.LastRunAt(ctx, playbook)
}

// Customer returns the stored customer with this id, or the one it was
// merged into, with their identities and the ids merged into them.
func (e *Engine) Customer(ctx context.Context, id string) (*domain.Customer, error) {
	c, err := e.store.GetCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Identities, err = e.store.CustomerIdentities(ctx, c.ID); err != nil {
		return nil, err
	}
	if c.Aliases, err = e.store.CustomerAliases(ctx, c.ID); err != nil {
		return nil, err
	}
	return c, nil
}

// addEvents stores events in one transaction and adds the new ones to the
// pond (see AddEvents).
func (e *Engine) addEvents(ctx context.Context, evs []domain.Event, pos customerPositions) (domain.AddedEvents, error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	found := foundCustomers{pre: pos}
	res, err := e.store.AddEvents(ctx, evs, found.known(e))
	if err != nil {
		return res, err
	}
	if o := e.cfg.Observer; o != nil {
		inserted := 0
		for _, ok := range res.Inserted {
			if ok {
				inserted++
			}
		}
		o.EventsAdded(inserted, len(evs)-inserted-len(res.ItemErrs), len(res.ItemErrs))
	}
	defer e.nudgeTriggers(evs, res.Inserted)
	e.applyToPond(res.Version, func(p *profile.Pond) {
		for i := range evs {
			if !res.Inserted[i] {
				continue
			}
			if ci, ok := found.lookup(p, evs[i].CustomerID); ok {
				p.AddLoadedEvent(ci, evs[i])
				if ch := evs[i].OptOut; ch != "" {
					p.Update(ci, func(c *profile.PondCustomer) { c.SetOptOut(profile.UnionOptOut(c.OptOut(), []string{ch})) })
				}
			} else {
				p.Version = -1 // a customer the pond does not know: reload
			}
		}
	})
	return res, nil
}

// foundCustomers remembers where the pond has the customers its known
// found for a batch, so that adding the batch's events to
// the pond looks each up once: a lookup in a million customers misses the
// CPU caches three or four times, and ingest did two per event, 14% of a
// koi serve taking 100,000 events a second.
type foundCustomers struct {
	pond *profile.Pond
	at   map[string]int
	// pre is what the callers looked up before their batches were
	// written (positionsOf).
	pre customerPositions
}

// known is the engine's KnownCustomers, noting what it finds: its pond
// answers when at the version asked about. The store asks holding the
// write lock, and the caller holds writeMu, so the pond cannot move
// meanwhile. Customers the callers found beforehand are not looked up
// again when that pond has removed none since.
func (f *foundCustomers) known(e *Engine) KnownCustomers {
	return func(version int64, ids []string, exists []bool) bool {
		e.pondMu.RLock()
		defer e.pondMu.RUnlock()
		if e.pond == nil || e.pond.Version != version {
			return false
		}
		f.pond, f.at = e.pond, f.pre.at
		if !f.pre.holdFor(e.pond) || f.at == nil {
			f.at = make(map[string]int, len(ids))
		}
		for i, id := range ids {
			if _, exists[i] = f.at[id]; exists[i] {
				continue
			}
			var at int
			if at, exists[i] = e.pond.Lookup(id); exists[i] {
				f.at[id] = at
			}
		}
		return true
	}
}

// customerPositions is where a pond had some customers. Looking a batch's
// customers up costs cache misses, not locks: callers do it as they
// queue, side by side, rather than the writer in the serial part of ingest
// (a sixth of its time at a million customers).
type customerPositions struct {
	pond    *profile.Pond
	removed uint64
	at      map[string]int // the customers found
}

// positionsOf looks up the customers of evs in the engine's pond.
func (e *Engine) positionsOf(evs []domain.Event) customerPositions {
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	if e.pond == nil {
		return customerPositions{}
	}
	c := customerPositions{pond: e.pond, removed: e.pond.Removed(), at: make(map[string]int, len(evs))}
	for i := range evs {
		id := evs[i].CustomerID
		if _, ok := c.at[id]; ok {
			continue
		}
		if at, ok := e.pond.Lookup(id); ok {
			c.at[id] = at
		}
	}
	return c
}

// holdFor reports whether the positions are still p's: found in it, and
// no customer removed since (positions are otherwise stable, see
// Pond.Removed).
func (c customerPositions) holdFor(p *profile.Pond) bool {
	return c.pond != nil && c.pond == p && p.Removed() == c.removed
}

// join adds o's positions to c's when both are of the same pond state;
// otherwise what c holds is kept and o's customers are looked up again.
func (c customerPositions) join(o customerPositions) customerPositions {
	if c.pond != o.pond || c.removed != o.removed || c.at == nil {
		return c
	}
	for id, at := range o.at {
		c.at[id] = at
	}
	return c
}

// lookup is p.Lookup, answered from what known found when p is the pond
// it looked in. The caller holds writeMu from the check to the apply, and
// applyToPond applies only to the version that follows the one checked,
// so nothing has moved a customer in between.
func (f *foundCustomers) lookup(p *profile.Pond, id string) (int, bool) {
	if p == f.pond {
		if at, ok := f.at[id]; ok {
			return at, true
		}
	}
	return p.Lookup(id)
}

// SetOptOut opts a customer out of a channel (OptOutAll: all of them), or
// back in, and returns their opt-outs after.
func (e *Engine) SetOptOut(ctx context.Context, customerID, channel string, out bool) ([]string, error) {
	if channel == "" {
		return nil, &domain.Error{Code: domain.EInvalid, Field: "channel", Message: "name the channel, or * for every channel"}
	}
	if err := domain.CheckText("channel", channel, domain.MaxChannelName); err != nil {
		return nil, err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	// A merged id names its survivor: an unsubscribe by an old id counts.
	customerID, err := e.store.ResolveAlias(ctx, customerID)
	if err != nil {
		return nil, err
	}
	version, list, err := e.store.SetOptOut(ctx, customerID, channel, out)
	if err != nil {
		return nil, err
	}
	e.applyToPond(version, func(p *profile.Pond) {
		if i, ok := p.Lookup(customerID); ok {
			p.Update(i, func(c *profile.PondCustomer) { c.SetOptOut(list) })
		}
	})
	return list, nil
}

// PondImager is implemented by stores that can keep the pond as an image
// beside the database, which a later start-up reads instead of the tables
// while it is current (see sqlite.DB.SavePondImage).
type PondImager interface {
	SavePondImage(ctx context.Context, v *profile.ImageView) error
}

// SavePondImage writes the in-memory pond as the store's pond image, so
// that the next process to start on an unchanged database loads it in a
// fraction of the time. Servers call it when they stop. It does nothing
// when the store keeps no image or no pond is loaded. The pond is held
// still only while it is captured, milliseconds, not while it is written.
func (e *Engine) SavePondImage(ctx context.Context) error {
	im, ok := e.store.(PondImager)
	if !ok {
		return nil
	}
	e.pondMu.RLock()
	p, h := e.pond, e.history
	var v *profile.ImageView
	if p != nil {
		v = p.View()
		if h != nil {
			// The fire history goes with it: every fire moves the pond
			// version, so the image's version vouches for both.
			v.Extra = h.Encode(v.Position)
		}
	}
	e.pondMu.RUnlock()
	if v == nil {
		return nil
	}
	start := time.Now()
	if err := im.SavePondImage(ctx, v); err != nil {
		return err
	}
	e.log.Info("pond image saved", "customers", p.Len(), "version", v.Version(), "took", time.Since(start))
	return nil
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// Event batches that arrive while another is being written are written
// together, in one transaction, by one of their callers (group commit).
// A commit waits for the disk (synchronous=FULL: about 2 ms here, a third
// of a 1,000-event batch's time): batches from several clients share that
// wait instead of each queueing behind a commit of its own.

// maxGroupEvents bounds the events one transaction takes from the queue:
// a transaction holds the write lock, and runs wait for it.
const maxGroupEvents = 10_000

// ingestQueue holds the batches waiting for a transaction.
type ingestQueue struct {
	mu      sync.Mutex
	pending []*ingestReq
	writing bool // a caller is writing a group; it hands over when done
}

// ingestReq is one caller's batch and, once done is closed, its result.
type ingestReq struct {
	evs  []domain.Event
	res  domain.AddedEvents
	err  error
	done chan struct{}
	// lead tells a waiting caller that it is first in the queue and
	// writes the next group.
	lead chan struct{}
	// written is set once res and err are the store's answer.
	written bool
	// pos is where the pond had the batch's customers when it was queued.
	pos customerPositions
}

// AddEvents stores events, idempotently by id, and adds the new ones to the
// pond. When it returns, every inserted event is durable. Batches added at
// the same time may commit in one transaction; each caller gets the
// results of its own events, and a batch that fails a shared transaction
// is tried again alone, so it cannot fail another's.
func (e *Engine) AddEvents(ctx context.Context, evs []domain.Event) (domain.AddedEvents, error) {
	if keyed := slices.ContainsFunc(evs, func(ev domain.Event) bool { return ev.Identity != nil && ev.CustomerID == "" }); keyed {
		return e.addKeyedEvents(ctx, evs)
	}
	profile.MarkOptOuts(evs, e.cfg.UnsubscribeEvent)
	req := &ingestReq{evs: evs, done: make(chan struct{}), lead: make(chan struct{}, 1), pos: e.positionsOf(evs)}
	q := &e.ingest
	q.mu.Lock()
	q.pending = append(q.pending, req)
	first := !q.writing
	q.writing = true
	q.mu.Unlock()
	if !first {
		select {
		case <-req.done:
			return req.res, req.err
		case <-req.lead:
		}
	}
	// The group is written for every caller in it: one caller going away
	// must not cancel the others' events.
	e.writeIngestGroup(context.WithoutCancel(ctx))
	<-req.done
	return req.res, req.err
}

// writeIngestGroup writes the batches at the head of the queue, the
// caller's first, and hands the queue to the next caller waiting.
func (e *Engine) writeIngestGroup(ctx context.Context) {
	q := &e.ingest
	q.mu.Lock()
	n, events := 1, len(q.pending[0].evs)
	for n < len(q.pending) && events+len(q.pending[n].evs) <= maxGroupEvents {
		events += len(q.pending[n].evs)
		n++
	}
	group := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.mu.Unlock()

	// Handed over even when the write panics (a server recovers from a
	// handler's panic): the queue must not wait for a writer that is gone.
	defer func() {
		q.mu.Lock()
		if len(q.pending) > 0 {
			q.pending[0].lead <- struct{}{}
		} else {
			q.writing = false
			q.pending = nil // let the old array go
		}
		q.mu.Unlock()
	}()
	e.addGroup(ctx, group)
}

// errIngestAborted is what the callers of a group get when its write
// panicked in another caller's goroutine.
var errIngestAborted = errors.New("store events: the write of this batch was aborted; send it again")

// addGroup writes the batches of group in one transaction and gives each
// its results; when that fails, each batch is written alone.
func (e *Engine) addGroup(ctx context.Context, group []*ingestReq) {
	defer func() {
		for _, r := range group {
			if !r.written && r.err == nil {
				r.err = errIngestAborted // a panic: no result is not success
			}
			close(r.done)
		}
	}()
	if len(group) == 1 {
		r := group[0]
		r.res, r.err = e.addEvents(ctx, r.evs, r.pos)
		r.written = true
		return
	}
	total := 0
	for _, r := range group {
		total += len(r.evs)
	}
	all := make([]domain.Event, 0, total)
	pos := group[0].pos
	for i, r := range group {
		all = append(all, r.evs...)
		if i > 0 {
			pos = pos.join(r.pos)
		}
	}
	res, err := e.addEvents(ctx, all, pos)
	if err != nil {
		for _, r := range group {
			r.res, r.err = e.addEvents(ctx, r.evs, r.pos)
			r.written = true
		}
		return
	}
	off := 0
	for _, r := range group {
		n := len(r.evs)
		r.res, r.written = domain.AddedEvents{Inserted: res.Inserted[off : off+n : off+n], Version: res.Version}, true
		for i, ierr := range res.ItemErrs {
			if i >= off && i < off+n {
				if r.res.ItemErrs == nil {
					r.res.ItemErrs = map[int]error{}
				}
				r.res.ItemErrs[i-off] = ierr
			}
		}
		off += n
	}
}

// IdentityResolver resolves identities to their customers: a Store does.
type IdentityResolver interface {
	// ResolveIdentities returns the customer of each identity
	// (normalised), "" for one nobody has.
	ResolveIdentities(ctx context.Context, ids []domain.Identity) ([]string, error)
}

// ResolveEventCustomers gives the events that name their customer by an
// identity (and not by id) the customer who has it, in one query, and
// returns the errors of those whose identity nobody has, by index: their
// customer stays unknown. What writes events without the engine (koi
// import) resolves them with it too.
func ResolveEventCustomers(ctx context.Context, r IdentityResolver, evs []domain.Event) (map[int]error, error) {
	var ids []domain.Identity
	var keyed []int
	for i := range evs {
		if evs[i].Identity != nil && evs[i].CustomerID == "" {
			ids = append(ids, *evs[i].Identity)
			keyed = append(keyed, i)
		}
	}
	if len(keyed) == 0 {
		return nil, nil
	}
	owners, err := r.ResolveIdentities(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("resolve identities: %w", err)
	}
	errs := map[int]error{}
	for k, i := range keyed {
		if owners[k] == "" {
			id := evs[i].Identity
			errs[i] = &domain.Error{Code: domain.ENotFound, Field: "identity", Message: fmt.Sprintf("no customer has %s %s", id.Kind, id.Value)}
			continue
		}
		evs[i].CustomerID, evs[i].Identity = owners[k], nil
	}
	return errs, nil
}

// addKeyedEvents adds events some of which name their customer by an
// identity: those are resolved first (one query for the batch); an
// identity nobody has is the item's error, and the others go on.
func (e *Engine) addKeyedEvents(ctx context.Context, evs []domain.Event) (domain.AddedEvents, error) {
	unknown, err := ResolveEventCustomers(ctx, e.store, evs)
	if err != nil {
		return domain.AddedEvents{}, err
	}
	out := domain.AddedEvents{Inserted: make([]bool, len(evs)), ItemErrs: map[int]error{}}
	resolved := make([]domain.Event, 0, len(evs))
	at := make([]int, 0, len(evs)) // at[j]: the index in evs of resolved[j]
	for i := range evs {
		if err, bad := unknown[i]; bad {
			out.ItemErrs[i] = err
			continue
		}
		resolved = append(resolved, evs[i])
		at = append(at, i)
	}
	if len(resolved) == 0 {
		return out, nil
	}
	res, err := e.AddEvents(ctx, resolved)
	if err != nil {
		return out, err
	}
	for j, i := range at {
		out.Inserted[i] = res.Inserted[j]
		if err := res.ItemErrs[j]; err != nil {
			out.ItemErrs[i] = err
		}
	}
	out.Version = res.Version
	return out, nil
}

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// Event-triggered rules (`on: TYPE`) run for one customer right after an
// event of their type commits. Ingest does not run them: it only nudges a
// worker (RunTriggers), which reads the events after a durable cursor,
// evaluates the rules for the customers concerned, commits their fires and
// only then moves the cursor. A crash between the two re-runs the triggers
// of the last events, and the fire key makes that fire nothing twice; a
// slow action delays the worker, never an ingest request.

// TriggerEvent is the trigger of a run made by event-triggered rules.
const TriggerEvent = "event"

// EventRef is a stored event as triggers see it.
type EventRef struct {
	Seq        int64
	CustomerID string
	Type       string
	At         time.Time
}

// TriggerStore is the part of the store event triggers use.
type TriggerStore interface {
	// TriggerCursor returns the seq of the last event whose triggers ran,
	// and false when triggers never ran.
	TriggerCursor(ctx context.Context) (int64, bool, error)
	SetTriggerCursor(ctx context.Context, seq int64) error
	// LatestEventSeq returns the seq of the newest event (0: none).
	LatestEventSeq(ctx context.Context) (int64, error)
	// EventsAfter returns up to limit events after seq of the types (of
	// every type when they hold AnyEventType), in commit order, and the seq through which it looked: every event after
	// seq and up to through that it did not return is of another type.
	EventsAfter(ctx context.Context, seq int64, limit int, types []string) (refs []EventRef, through int64, err error)
	// CustomerFireMarks returns the latest fire of the rules, and of the
	// benefit groups, for the customers.
	CustomerFireMarks(ctx context.Context, playbook string, ruleIDs []string, groups evaluate.GroupRules, customerIDs []string) (*evaluate.Marks, error)
}

// TriggerOptions configure RunTriggers.
type TriggerOptions struct {
	// Now is the clock (default time.Now); a triggered rule is evaluated
	// at the moment the worker handles its event.
	Now func() time.Time
	// MaxAge skips events older than this when they are handled (default
	// 24 h), so a backfill of old orders does not thank anyone for them.
	MaxAge time.Duration
	// Poll is how often the worker looks for events written by other
	// processes, such as `koi import` (default 2 s). Events that come
	// through this engine wake it at once.
	Poll time.Duration
	// Batch is the most events handled at once (default 5000).
	Batch int
	// ApprovedBy approves the triggered runs in advance, as
	// RunRequest.ApprovedBy does.
	ApprovedBy string
}

func (o TriggerOptions) withDefaults() TriggerOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	return o
}

// triggerTypes returns, for each event type, the playbooks with rules on
// it, as of the last load. Ingest asks on every batch, so it is computed
// once per load (onTypes), not per call.
func (e *Engine) triggerTypes() map[string][]*rules.Playbook {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.onTypes
}

// AnyEventType stands for every event type in the types the trigger
// worker reads (TriggerStore.EventsAfter): a journey whose exit_when may
// read any.
const AnyEventType = "*"

// onTypesOf maps event types to the playbooks with rules on them, and to
// the journeys entered on them or whose exit_when they may change
// (AnyEventType: any type).
func onTypesOf(pbs map[string]*rules.Playbook) map[string][]*rules.Playbook {
	out := map[string][]*rules.Playbook{}
	for _, pb := range pbs {
		seen := map[string]bool{}
		for _, r := range pb.Rules {
			if r.On != "" && !seen[r.On] {
				seen[r.On] = true
				out[r.On] = append(out[r.On], pb)
			}
		}
		if pb.Journey != nil {
			types, all := journeyEventTypes(pb.Journey)
			if all {
				types = []string{AnyEventType}
			}
			for _, t := range types {
				out[t] = append(out[t], pb)
			}
		}
	}
	for _, pbs := range out {
		slices.SortFunc(pbs, func(a, b *rules.Playbook) int { return cmpString(a.Name, b.Name) })
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// nudgeTriggers wakes the trigger worker if any of evs may trigger a rule.
func (e *Engine) nudgeTriggers(evs []domain.Event, inserted []bool) {
	types := e.triggerTypes()
	if len(types) == 0 {
		return
	}
	for i := range evs {
		if inserted[i] && (types[evs[i].Type] != nil || types[AnyEventType] != nil) {
			select {
			case e.triggerKick <- struct{}{}:
			default:
			}
			return
		}
	}
}

// StartTriggers starts the trigger cursor of a database that never had
// one at its newest event, so that the trigger worker answers every event
// stored from now on. Servers call it before they take requests: the
// worker's first pass otherwise did it whenever its goroutine first ran,
// and took events a client had sent before that for the past.
func (e *Engine) StartTriggers(ctx context.Context) error {
	ts, ok := e.store.(TriggerStore)
	if !ok {
		return fmt.Errorf("event triggers: the store does not keep a trigger cursor")
	}
	e.triggerMu.Lock()
	defer e.triggerMu.Unlock()
	if _, started, err := ts.TriggerCursor(ctx); err != nil || started {
		return err
	}
	latest, err := ts.LatestEventSeq(ctx)
	if err != nil {
		return err
	}
	return ts.SetTriggerCursor(ctx, latest)
}

// RunTriggers handles event-triggered rules until ctx ends. The store must
// implement TriggerStore.
func (e *Engine) RunTriggers(ctx context.Context, opts TriggerOptions) error {
	ts, ok := e.store.(TriggerStore)
	if !ok {
		return fmt.Errorf("event triggers: the store does not keep a trigger cursor")
	}
	opts = opts.withDefaults()
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	for {
		for {
			n, _, err := e.processTriggers(ctx, ts, opts)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				e.log.Error("event-triggered rules failed; retrying", "err", err)
				break
			}
			if n < opts.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.triggerKick:
		case <-tick.C:
		}
	}
}

// ProcessTriggers handles the events stored since the last call, once,
// and returns the runs it recorded. Tests and tools call it directly.
func (e *Engine) ProcessTriggers(ctx context.Context, opts TriggerOptions) ([]*Run, error) {
	ts, ok := e.store.(TriggerStore)
	if !ok {
		return nil, fmt.Errorf("event triggers: the store does not keep a trigger cursor")
	}
	opts = opts.withDefaults()
	var all []*Run
	for {
		n, runs, err := e.processTriggers(ctx, ts, opts)
		all = append(all, runs...)
		if err != nil || n < opts.Batch {
			return all, err
		}
	}
}

// processTriggers handles one batch of events after the cursor and
// returns how many events it read and the runs it recorded.
func (e *Engine) processTriggers(ctx context.Context, ts TriggerStore, opts TriggerOptions) (n int, runs []*Run, err error) {
	e.triggerMu.Lock()
	defer e.triggerMu.Unlock()
	cursor, started, err := ts.TriggerCursor(ctx)
	if err != nil {
		return 0, nil, err
	}
	types := e.triggerTypes()
	if !started || len(types) == 0 {
		// Rules only see the events after they exist: skip the past.
		latest, err := ts.LatestEventSeq(ctx)
		if err != nil || latest == cursor && started {
			return 0, nil, err
		}
		return 0, nil, ts.SetTriggerCursor(ctx, latest)
	}
	wanted := make([]string, 0, len(types))
	for t := range types {
		wanted = append(wanted, t)
	}
	// Only the events of the types rules wait for are read: at a
	// hundred thousand visits a second, reading every event took a twentieth of
	// the server's CPU.
	refs, through, err := ts.EventsAfter(ctx, cursor, opts.Batch, wanted)
	if err != nil || through <= cursor {
		return 0, nil, err
	}
	now := opts.Now()
	oldest := now.Add(-opts.MaxAge)
	// The customers each playbook must look at, and which of their event
	// types arrived, in the order they first did.
	type work struct {
		pb    *rules.Playbook
		custs []string
		types map[string]map[string]bool
		// events, of a journey: what its pass answers.
		events []domain.Event
	}
	var order []*work
	byPB := map[string]*work{}
	for _, r := range refs {
		if r.At.Before(oldest) {
			continue
		}
		for _, pb := range slices.Concat(types[r.Type], types[AnyEventType]) {
			if pb.Journey != nil {
				w := byPB[pb.Name]
				if w == nil {
					w = &work{pb: pb}
					byPB[pb.Name] = w
					order = append(order, w)
				}
				w.events = append(w.events, domain.Event{CustomerID: r.CustomerID, Type: r.Type, At: r.At})
				continue
			}
			w := byPB[pb.Name]
			if w == nil {
				w = &work{pb: pb, types: map[string]map[string]bool{}}
				byPB[pb.Name] = w
				order = append(order, w)
			}
			if w.types[r.CustomerID] == nil {
				w.types[r.CustomerID] = map[string]bool{}
				w.custs = append(w.custs, r.CustomerID)
			}
			w.types[r.CustomerID][r.Type] = true
		}
	}
	// Rules first, then journeys, each in order of name: a journey's
	// pass sees what the rules did for the same events.
	slices.SortFunc(order, func(a, b *work) int {
		if (a.pb.Journey == nil) != (b.pb.Journey == nil) {
			if a.pb.Journey == nil {
				return -1
			}
			return 1
		}
		return cmpString(a.pb.Name, b.pb.Name)
	})
	for _, w := range order {
		if w.pb.Journey != nil {
			run, err := e.journeyOnEvents(ctx, w.pb, JourneyRequest{At: now, Events: w.events, Trigger: TriggerEvent, Quiet: true, ApprovedBy: opts.ApprovedBy})
			if err != nil {
				if ctx.Err() != nil {
					return 0, runs, err
				}
				// Logged, and the cursor moves on: retrying the batch would
				// run the other playbooks' triggers of these events again,
				// and the minute's pass takes the journey's due steps.
				// What is lost are these events' entries and exits (an
				// exit is still made before the next step).
				e.log.Error("journey pass on events failed; its entries are lost", slog.String("journey", w.pb.Name), slog.Int("events", len(w.events)), slog.Any("err", err))
			}
			if run != nil {
				runs = append(runs, run)
				e.log.Info("journey pass on events", slog.String("journey", run.Playbook), slog.Int64("run", run.ID),
					slog.Int("events", len(w.events)), slog.Int("entered", run.Audience), slog.Int("fired", run.Fired), slog.String("status", run.Status))
			}
			continue
		}
		run, err := e.runTriggered(ctx, ts, w.pb, w.custs, w.types, now, opts.ApprovedBy)
		if err != nil {
			return 0, runs, fmt.Errorf("event-triggered rules of %s: %w", w.pb.Name, err)
		}
		if run != nil {
			runs = append(runs, run)
			e.log.Info("event-triggered run", slog.String("playbook", run.Playbook), slog.Int64("run", run.ID),
				slog.Int("customers", len(w.custs)), slog.Int("fired", run.Fired), slog.String("status", run.Status))
		}
	}
	return len(refs), runs, ts.SetTriggerCursor(ctx, through)
}

// runTriggered evaluates a playbook's event-triggered rules for customers
// and records a run when any rule matched.
func (e *Engine) runTriggered(ctx context.Context, ts TriggerStore, pb *rules.Playbook, custs []string, types map[string]map[string]bool, now time.Time, approvedBy string) (*Run, error) {
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	mark, err := e.store.LatestMergeID(ctx)
	if err != nil {
		return nil, err
	}
	pop, err := e.population(ctx, pond, now)
	if err != nil {
		return nil, err
	}
	var ruleIDs []string
	for _, r := range pb.Rules {
		if r.On != "" {
			ruleIDs = append(ruleIDs, r.ID)
		}
	}
	var marks *evaluate.Marks
	if h := e.historyOf(pond); h != nil {
		marks = h.View(pb.Name, ruleIDs, e.groupRules(pb))
	} else if marks, err = ts.CustomerFireMarks(ctx, pb.Name, ruleIDs, e.groupRules(pb), custs); err != nil {
		return nil, err
	}
	started := time.Now()
	snap, idx := e.sparseSnapshot(pond, pop, custs, now)
	ev := &evaluate.Evaluation{Counts: evaluate.NewCounts(pb), LimitBase: pond.Len(), Trace: e.cfg.Trace, Marks: marks}
	var m rules.Evaluator
	for _, i := range idx {
		p := snap.Profile(i)
		if pb.Audience != nil {
			if ok, err := pb.Audience.Eval(&m, p); err != nil || !ok {
				continue
			}
		}
		ev.Audience++
		evaluate.EvaluateCustomer(pb, snap, marks, i, p, &m, ev, types[p.ID])
	}
	matched := 0
	for _, c := range ev.Counts {
		matched += c.Matched + c.Errors
	}
	if matched == 0 {
		return nil, nil // nothing to record: most events trigger nothing
	}
	run, _, err := e.runPlaybook(ctx, pb, snap, ev, started, RunRequest{Trigger: TriggerEvent, ApprovedBy: approvedBy, mergeMark: mark, marked: true})
	return run, err
}

// sparseSnapshot computes the profiles of a few customers at now, scored
// against pop, and returns it with their pond indexes in order. Customers
// unknown or not yet joined at now are left out.
func (e *Engine) sparseSnapshot(pond *profile.Pond, pop *profile.Population, ids []string, now time.Time) (*profile.Snapshot, []int) {
	e.pondMu.RLock()
	defer e.pondMu.RUnlock()
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		i, ok := pond.Lookup(id)
		if !ok || pond.Customers[i].JoinedAfter(now) {
			continue
		}
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return profile.SparseSnapshot(pond, pop, idx, now, e.cfg.Profile), idx
}

// journeyAttempts is how often a journey's pass on events is tried before
// the trigger worker gives up on its events.
const journeyAttempts = 3

// journeyOnEvents passes a journey on events, trying again after a
// failure (the database busy with another process's write): the entries
// of the events are only made here.
func (e *Engine) journeyOnEvents(ctx context.Context, pb *rules.Playbook, req JourneyRequest) (*Run, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var run *Run
		if run, err = e.ProcessJourney(ctx, pb, req); err == nil || attempt == journeyAttempts || ctx.Err() != nil {
			return run, err
		}
		e.log.Warn("journey pass on events failed; trying again", slog.String("journey", pb.Name), slog.Int("attempt", attempt), slog.Any("err", err))
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

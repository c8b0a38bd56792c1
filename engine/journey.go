package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/stage"
	"github.com/koihq/koi/rules"
)

// Suppression reasons of journey steps, beside evaluate's.
const (
	// ReasonStepWhen: the step's when was false at its time; the journey
	// went on without it.
	ReasonStepWhen = "when"
	// ReasonExited: exit_when held when the step came due.
	ReasonExited = "exited"
)

// lateAfter is how long after its time a step is taken late: koi serve
// takes due steps every minute, so a step older than two was waiting for
// koi to run.
const lateAfter = 2 * time.Minute

// JourneyRequest says what a journey pass processes.
type JourneyRequest struct {
	// At is the moment processed: entries at At, and every step due by it.
	At time.Time
	// Enter evaluates the journey's enter.when over the pond first (its
	// schedule came due); journeys entered on an event ignore it.
	Enter bool
	// Trigger says what started the pass, as recorded (TriggerManual by
	// default).
	Trigger string
	// Events are stored events the pass answers first: one of the type
	// the journey is entered on enters its customer (at the event's time)
	// when enter.when holds and they may enter; a customer in the journey
	// with an event leaves it when exit_when holds.
	Events []domain.Event
	// ApprovedBy approves the pass in advance, as RunRequest.ApprovedBy
	// does: the blast guard does not hold it.
	ApprovedBy string
	// Quiet records the pass as a run only when it entered, moved or held
	// someone: koi serve's passes every minute and on events mostly find
	// nothing to do, and a run a minute would bury the runs that matter.
	Quiet bool
}

// journeyMove is what a pass does with one customer's due step: whether
// the step fires (not when it is skipped by its when, dropped by the
// contact policy, or the customer exits), and where their journey goes
// after it.
type journeyMove struct {
	from    domain.JourneyState
	pos     int
	step    int // index of the step in the journey; -1 for a step an edit removed
	fire    bool
	variant int
	// deliverAt, when not 0, is when the step's messages are due (unix
	// ms): quiet hours, or a cap that defers.
	deliverAt int64
	next      domain.JourneyState
	// note is what the step did for the customer when it did not fire
	// (suppressed and why, or an error), for a traced engine's outcomes.
	note evaluate.CustomerOutcome
}

// sweep says which due steps a pass takes and how: those due by due,
// decided at at (the same moment, but for an approval of a held pass,
// which takes the steps due when it was held, decided now), only the ones
// keep keeps (nil: all). A sweep that passes takes the steps without
// acting: a rejected pass's.
type sweep struct {
	due, at time.Time
	keep    func(domain.JourneyState) bool
	pass    bool
}

// ProcessJourney processes pb's journey at req.At: the entries of its
// schedule (req.Enter), the entries and exits of req.Events, then every
// step due by req.At, each customer's in order, late ones too, each once
// per entry. A step whose actions fail is
// counted as failed and the journey goes on: retrying it every pass would
// fail every pass.
//
// The blast guard applies to the pass's steps: when the steps due would
// fire more than limits.max_fires (of the pond), nothing of them is
// written and the pass is held for a decision; until it is decided (or
// expires), passes of the journey enter and exit customers but take no
// step. Approve releases the held steps; Reject passes them.
//
// The pass is recorded as a run of the playbook, with a rule's counts for
// each step: matched (due, not exited, when true), fired, suppressed
// (holdout, when, exited, collision, blast_guard) and errors. A quiet
// request returns a nil run when the pass did nothing.
func (e *Engine) ProcessJourney(ctx context.Context, pb *rules.Playbook, req JourneyRequest) (*Run, error) {
	j := pb.Journey
	if j == nil {
		return nil, &domain.Error{Code: domain.EInvalid, Message: fmt.Sprintf("playbook %s has no journey", pb.Name)}
	}
	e.journeyMu.Lock()
	defer e.journeyMu.Unlock()
	trigger := req.Trigger
	if trigger == "" {
		trigger = TriggerManual
	}
	started := time.Now()
	run := &Run{Playbook: pb.Name, Hash: pb.Hash, File: absPath(pb.File), At: req.At, StartedAt: started, Status: RunRunning,
		Trigger: trigger, Rules: evaluate.NewCounts(journeySteps(pb)), Limit: math.MaxInt32}
	if req.ApprovedBy != "" {
		run.DecidedBy, run.DecidedAt = req.ApprovedBy, &started
	}
	// The run is recorded when the pass first writes (a quiet pass that
	// writes nothing records none).
	pass := &journeyPass{e: e, run: run}
	fail := func(err error) (*Run, error) {
		if run.ID == 0 {
			// Nothing was written: a quiet pass records nothing (it is
			// logged), or its failures would add a run every minute.
			if req.Quiet {
				return nil, fmt.Errorf("journey %s: %w", pb.Name, err)
			}
			if serr := e.store.StartRun(ctx, run); serr != nil {
				return nil, fmt.Errorf("journey %s: %w", pb.Name, err)
			}
		}
		run.Status, run.Error = RunFailed, err.Error()
		_ = e.finish(ctx, run)
		return run, fmt.Errorf("journey %s: %w", pb.Name, err)
	}
	// Whether a pass waits for a decision, asked first: a decision made
	// while this pass writes its entries must not let it take the steps
	// another process is releasing.
	held, err := e.journeyHeld(ctx, pb.Name, req.At)
	if err != nil {
		return fail(err)
	}
	if req.Enter && j.EnterOn == "" && j.EnterWhen != nil {
		// Entry on the schedule asks every customer: the whole pond's
		// profiles. Steps and events need only their customers'.
		if err := e.enterOnSchedule(ctx, pb, req.At, pass); err != nil {
			return fail(err)
		}
	}
	if len(req.Events) > 0 {
		if err := e.journeyEvents(ctx, pb, req, pass); err != nil {
			return fail(err)
		}
	}
	sw := sweep{due: req.At, at: req.At}
	switch {
	case held:
		// A held pass waits for its decision: no step is taken meanwhile.
	case req.ApprovedBy == "":
		hold, err := e.guardJourney(ctx, pb, sw, pass)
		if err != nil {
			return fail(err)
		}
		if hold {
			return run, nil
		}
		fallthrough
	default:
		if err := e.sweepJourney(ctx, pb, sw, pass); err != nil {
			return fail(err)
		}
	}
	if run.ID == 0 {
		if req.Quiet {
			return nil, nil
		}
		if err := pass.start(ctx); err != nil {
			return nil, err
		}
	}
	run.Status = RunDone
	return run, e.finish(ctx, run)
}

// journeyPass is a pass's run, recorded when the pass first writes.
type journeyPass struct {
	e   *Engine
	run *Run
}

// start records the pass's run, once.
func (p *journeyPass) start(ctx context.Context) error {
	if p.run.ID != 0 {
		return nil
	}
	if err := p.e.store.StartRun(ctx, p.run); err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	return nil
}

// sweepJourney takes the due steps of sw, in sweeps in order of due time
// and customer: while one batch is written, the next is read and decided
// on the other core (its customers are others: nothing the writing does
// changes them). A customer's next step that came due too (late steps)
// is taken by the next sweep; it ends with a sweep that takes nothing.
func (e *Engine) sweepJourney(ctx context.Context, pb *rules.Playbook, sw sweep, pass *journeyPass) error {
	run := pass.run
	for {
		took := 0
		pending := e.planBatch(ctx, pb, sw, domain.DueCursor{})
		for {
			b := <-pending
			if b.err != nil {
				return b.err
			}
			if b.done {
				break
			}
			pending = e.planBatch(ctx, pb, sw, b.next)
			if len(b.moves) == 0 {
				continue
			}
			if err := pass.start(ctx); err != nil {
				<-pending
				return err
			}
			if err := e.writeJourneyMoves(ctx, pb, b.snap, run, b.moves); err != nil {
				<-pending
				return err
			}
			for i, c := range b.counts {
				run.Rules[i].Add(c)
			}
			took += len(b.moves)
		}
		if took == 0 {
			return nil
		}
	}
}

// plannedBatch is a batch of due steps read and decided, with the
// profiles they were decided on and the counts of the deciding. done: no
// step was due after the cursor.
type plannedBatch struct {
	snap   *profile.Snapshot
	moves  []journeyMove
	counts []*evaluate.RuleCounts
	next   domain.DueCursor
	done   bool
	err    error
}

// planBatch reads and decides, on a goroutine of its own, the batch of
// sw's due steps after cursor.
func (e *Engine) planBatch(ctx context.Context, pb *rules.Playbook, sw sweep, after domain.DueCursor) <-chan plannedBatch {
	out := make(chan plannedBatch, 1)
	go func() {
		due, err := e.store.DueJourneySteps(ctx, pb.Name, sw.due, after, e.cfg.BatchSize)
		if err != nil || len(due) == 0 {
			out <- plannedBatch{err: err, done: true}
			return
		}
		next := domain.CursorOf(due[len(due)-1])
		if sw.keep != nil {
			due = slices.DeleteFunc(due, func(st domain.JourneyState) bool { return !sw.keep(st) })
		}
		counts := evaluate.NewCounts(journeySteps(pb))
		if len(due) == 0 {
			out <- plannedBatch{counts: counts, next: next}
			return
		}
		ids := make([]string, len(due))
		for i, st := range due {
			ids[i] = st.CustomerID
		}
		snap, err := e.journeySnapshot(ctx, ids, sw.at)
		if err != nil {
			out <- plannedBatch{err: err, done: true}
			return
		}
		out <- plannedBatch{snap: snap, moves: e.planSteps(pb, snap, due, sw, counts), counts: counts, next: next}
	}()
	return out
}

// enterOnSchedule enters the customers for whom the journey's enter.when
// holds at at, over the whole pond's profiles.
func (e *Engine) enterOnSchedule(ctx context.Context, pb *rules.Playbook, at time.Time, pass *journeyPass) error {
	entries, err := e.scheduledEntries(ctx, pb, at)
	if err != nil {
		return err
	}
	return e.writeEntries(ctx, entries, at, pass)
}

// journeySnapshot computes the profiles of the customers ids at at, scored
// against the latest population (a sparse snapshot, which also gives
// their pond indexes: SparseIndex).
func (e *Engine) journeySnapshot(ctx context.Context, ids []string, at time.Time) (*profile.Snapshot, error) {
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	pop, err := e.population(ctx, pond, at)
	if err != nil {
		return nil, err
	}
	snap, _ := e.sparseSnapshot(pond, pop, ids, at)
	return snap, nil
}

// scheduledEntries returns the entries of the customers for whom the
// journey's enter.when holds at at and who may enter, computed over the
// whole pond's profiles in the snapshot memory runs share.
func (e *Engine) scheduledEntries(ctx context.Context, pb *rules.Playbook, at time.Time) ([]domain.JourneyState, error) {
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	snap, done, err := e.snapshotAt(ctx, pond, at)
	if err != nil {
		return nil, err
	}
	defer done()
	j := pb.Journey
	states, err := e.store.JourneyStates(ctx, pb.Name, nil)
	if err != nil {
		return nil, err
	}
	var m rules.Evaluator
	buf := profile.ProfileBuf{WithoutAttrs: !j.EnterWhen.NeedsMap("attrs")}
	var entries []domain.JourneyState
	for i := range snap.Len() {
		if !snap.Present[i] {
			continue
		}
		id := snap.ID(i)
		st, was := states[id]
		if was && !mayReenter(j, st, at) {
			continue
		}
		ok, err := j.EnterWhen.Eval(&m, snap.Fill(i, &buf))
		if err != nil || !ok {
			continue
		}
		entries = append(entries, newEntry(pb, id, st.Entry+1, at))
	}
	return entries, nil
}

// writeEntries records entries, in transactions of Config.BatchSize, and
// counts those recorded as the pass's audience: an entry a racing process
// recorded first is its.
func (e *Engine) writeEntries(ctx context.Context, entries []domain.JourneyState, at time.Time, pass *journeyPass) error {
	if len(entries) == 0 {
		return nil
	}
	if err := pass.start(ctx); err != nil {
		return err
	}
	for start := 0; start < len(entries); start += e.cfg.BatchSize {
		batch := entries[start:min(start+e.cfg.BatchSize, len(entries))]
		n := 0
		e.writeMu.Lock()
		version, err := e.store.WriteFires(ctx, at, func(tx FireTx) error {
			n = 0
			ok, err := tx.EnterJourneys(batch)
			for _, entered := range ok {
				if entered {
					n++
				}
			}
			return err
		})
		if err == nil {
			// Nothing of the pond changed, but its version moved on: the
			// engine's pond stays current instead of being read again.
			e.applyToPond(version, func(*profile.Pond) {})
		}
		e.writeMu.Unlock()
		if err != nil {
			return fmt.Errorf("enter: %w", err)
		}
		pass.run.Audience += n
	}
	return nil
}

// journeySteps is pb's journey seen as a playbook whose rules are its
// steps, for what treats steps like rules (counts, the contact policy).
func journeySteps(pb *rules.Playbook) *rules.Playbook {
	return &rules.Playbook{Name: pb.Name, Hash: pb.Hash, File: pb.File, Rules: pb.Journey.Steps, Policy: pb.Policy,
		HoldoutBP: pb.HoldoutBP, MaxFires: pb.MaxFires, Location: pb.Location, Attribution: pb.Attribution}
}

// journeyEvents answers a pass's events: entries on the journey's event
// type, then exits of the customers in the journey who had an event.
func (e *Engine) journeyEvents(ctx context.Context, pb *rules.Playbook, req JourneyRequest, pass *journeyPass) error {
	j := pb.Journey
	ids := make([]string, 0, len(req.Events))
	seen := make(map[string]bool, len(req.Events))
	for _, ev := range req.Events {
		if !seen[ev.CustomerID] {
			seen[ev.CustomerID] = true
			ids = append(ids, ev.CustomerID)
		}
	}
	states, err := e.store.JourneyStates(ctx, pb.Name, ids)
	if err != nil {
		return err
	}
	snap, err := e.journeySnapshot(ctx, ids, req.At)
	if err != nil {
		return err
	}
	run := pass.run
	evs := slices.Clone(req.Events)
	slices.SortStableFunc(evs, func(a, b domain.Event) int { return a.At.Compare(b.At) })
	var m rules.Evaluator
	var buf profile.ProfileBuf
	var entries []domain.JourneyState
	if j.EnterOn != "" {
		for _, ev := range evs {
			if ev.Type != j.EnterOn {
				continue
			}
			pos, ok := snap.SparseIndex(ev.CustomerID)
			if !ok {
				continue
			}
			st, was := states[ev.CustomerID]
			if was && !mayReenter(j, st, ev.At) {
				continue
			}
			if j.EnterWhen != nil {
				if ok, err := j.EnterWhen.Eval(&m, snap.Fill(pos, &buf)); err != nil || !ok {
					continue
				}
			}
			st = newEntry(pb, ev.CustomerID, st.Entry+1, ev.At)
			states[ev.CustomerID] = st // a second event of the batch finds them in
			entries = append(entries, st)
		}
	}
	if err := e.writeEntries(ctx, entries, req.At, pass); err != nil {
		return err
	}
	if j.ExitWhen == nil {
		return nil
	}
	var exits []journeyMove
	clear(seen)
	for _, ev := range evs {
		st, in := states[ev.CustomerID]
		if !in || st.Status != domain.JourneyEntered || seen[ev.CustomerID] {
			continue
		}
		seen[ev.CustomerID] = true
		pos, ok := snap.SparseIndex(ev.CustomerID)
		if !ok {
			continue
		}
		p := snap.Fill(pos, &buf)
		p.SetEntry(st.EnteredAt)
		if exit, err := j.ExitWhen.Eval(&m, p); err == nil && exit {
			if k := stepIndex(j, st); k >= 0 {
				run.Rules[k].Suppress(ReasonExited, 1)
			}
			exits = append(exits, journeyMove{from: st, pos: pos, step: stepIndex(j, st), variant: -1,
				next: domain.JourneyState{Status: domain.JourneyExited, EndedAt: req.At},
				note: evaluate.CustomerOutcome{Outcome: evaluate.OutcomeSuppressed, Reason: ReasonExited}})
		}
	}
	if len(exits) == 0 {
		return nil
	}
	if err := pass.start(ctx); err != nil {
		return err
	}
	return e.writeJourneyMoves(ctx, pb, snap, run, exits)
}

// newEntry is customer id's entry numbered entry into pb's journey at at:
// its first step due, held out or not by the playbook's holdout.
func newEntry(pb *rules.Playbook, id string, entry int, at time.Time) domain.JourneyState {
	first := pb.Journey.Steps[0]
	return domain.JourneyState{Journey: pb.Name, CustomerID: id, Entry: entry, EnteredAt: at, Hash: pb.Hash,
		NextStep: first.ID, DueAt: at.Add(first.After), Status: domain.JourneyEntered,
		Holdout: evaluate.InHoldout(pb.Name, id, pb.HoldoutBP)}
}

// mayReenter says whether a customer whose latest entry is st may enter
// the journey again at at.
func mayReenter(j *rules.Journey, st domain.JourneyState, at time.Time) bool {
	return st.Status != domain.JourneyEntered && j.Reenter > 0 && !at.Before(st.EndedAt.Add(j.Reenter))
}

// planSteps decides each due step: exit, skip by its when, or fire (for a
// held-out customer, a holdout fire), and where the journey goes next.
func (e *Engine) planSteps(pb *rules.Playbook, snap *profile.Snapshot, due []domain.JourneyState, sw sweep, counts []*evaluate.RuleCounts) []journeyMove {
	j := pb.Journey
	at := sw.at
	steps := journeySteps(pb)
	var m rules.Evaluator
	var buf profile.ProfileBuf
	moves := make([]journeyMove, 0, len(due))
	for _, st := range due {
		mv := journeyMove{from: st, step: stepIndex(j, st), variant: -1}
		pos, ok := snap.SparseIndex(st.CustomerID)
		mv.pos = pos
		if !ok {
			mv.pos = -1
		}
		switch {
		case mv.step < 0:
			// A step an edit of the journey removed: move on by time,
			// firing nothing.
			mv.next = resume(j, st, at)
			moves = append(moves, mv)
			continue
		case !ok:
			// A customer not in the pond at at (joined later, as their
			// record now says): the step passes without firing. Left
			// where it is, the step would be due again at once, and the
			// pass would never end.
			mv.next = nextStep(j, st, mv.step, at)
			moves = append(moves, mv)
			continue
		}
		if sw.pass {
			mv.next = nextStep(j, st, mv.step, at)
			moves = append(moves, mv)
			continue
		}
		step := j.Steps[mv.step]
		c := counts[mv.step]
		p := snap.Fill(pos, &buf)
		p.SetEntry(st.EnteredAt)
		if j.ExitWhen != nil {
			if exit, err := j.ExitWhen.Eval(&m, p); err != nil {
				c.Fail(st.CustomerID + ": exit_when: " + err.Error())
				mv.note = evaluate.CustomerOutcome{Outcome: evaluate.OutcomeError, Error: "exit_when: " + err.Error()}
			} else if exit {
				c.Suppress(ReasonExited, 1)
				mv.note = evaluate.CustomerOutcome{Outcome: evaluate.OutcomeSuppressed, Reason: ReasonExited}
				mv.next = domain.JourneyState{Status: domain.JourneyExited, EndedAt: at}
				moves = append(moves, mv)
				continue
			}
		}
		mv.next = nextStep(j, st, mv.step, at)
		if at.Sub(st.DueAt) > lateAfter {
			c.Late++
		}
		switch ok, err := whenHolds(step, &m, p); {
		case err != nil:
			c.Fail(st.CustomerID + ": when: " + err.Error())
			mv.note = evaluate.CustomerOutcome{Outcome: evaluate.OutcomeError, Error: "when: " + err.Error()}
		case !ok:
			c.Suppress(ReasonStepWhen, 1)
			mv.note = evaluate.CustomerOutcome{Outcome: evaluate.OutcomeSuppressed, Reason: ReasonStepWhen}
		default:
			c.Matched++
			mv.variant = evaluate.VariantOf(pb.Name, step, st.CustomerID)
			d := evaluate.Decision{Cust: int32(pos), Rule: int16(mv.step), Seq: int32(st.Entry), Variant: int16(mv.variant), Holdout: st.Holdout}
			if d, reason, ok := evaluate.SettleStep(steps, snap, p, d, counts); ok {
				mv.fire, mv.deliverAt = true, d.DeliverAt
			} else {
				mv.note = evaluate.CustomerOutcome{Outcome: evaluate.OutcomeSuppressed, Reason: reason}
			}
		}
		moves = append(moves, mv)
	}
	return moves
}

// stepIndex returns the index of st's next step in the journey, -1 when
// the journey has none of that id any more.
func stepIndex(j *rules.Journey, st domain.JourneyState) int {
	for i, s := range j.Steps {
		if s.ID == st.NextStep {
			return i
		}
	}
	return -1
}

// nextStep returns where a journey goes after its step at index k: the
// step after it, or its completion at at.
func nextStep(j *rules.Journey, st domain.JourneyState, k int, at time.Time) domain.JourneyState {
	if k+1 < len(j.Steps) {
		s := j.Steps[k+1]
		return domain.JourneyState{Status: domain.JourneyEntered, NextStep: s.ID, DueAt: st.EnteredAt.Add(s.After)}
	}
	return domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: at}
}

// resume returns where a journey goes whose next step an edit removed:
// the first step due at or after the removed one's time, or completion.
// (A step of the same time the customer had passed comes again: only
// when the step they were at was removed.)
func resume(j *rules.Journey, st domain.JourneyState, at time.Time) domain.JourneyState {
	done := st.DueAt.Sub(st.EnteredAt)
	for k, s := range j.Steps {
		if s.After >= done {
			return nextStep(j, st, k-1, at)
		}
	}
	return domain.JourneyState{Status: domain.JourneyCompleted, EndedAt: at}
}

// whenHolds evaluates a step's when (true when it has none).
func whenHolds(step *rules.Rule, m *rules.Evaluator, p *profile.Profile) (bool, error) {
	if step.When == nil {
		return true, nil
	}
	return step.When.Eval(m, p)
}

// writeJourneyMoves writes a batch of planned moves in one transaction:
// each step's fire and actions, and the state moved past the step only if
// it is still at it (another process may have taken the step: then this
// one's fire and effects are undone).
func (e *Engine) writeJourneyMoves(ctx context.Context, pb *rules.Playbook, snap *profile.Snapshot, run *Run, moves []journeyMove) error {
	j := pb.Journey
	var muts []profile.Change
	var kept []keptFire
	var delta []*evaluate.RuleCounts
	var outcomes []evaluate.CustomerOutcome
	// note records what a move did for its customer, for a traced engine.
	note := func(mv journeyMove, o evaluate.CustomerOutcome, f *domain.Fire) {
		if !e.cfg.Trace || o.Outcome == "" || mv.step < 0 {
			return
		}
		o.CustomerID, o.Rule = mv.from.CustomerID, j.Steps[mv.step].ID
		if f != nil {
			o.Variant = f.Variant
		}
		if mv.deliverAt > 0 && o.Outcome == evaluate.OutcomeFired {
			t := time.UnixMilli(mv.deliverAt)
			o.DeliverAt = &t
		}
		outcomes = append(outcomes, o)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	version, err := e.store.WriteFires(ctx, snap.Now, func(tx FireTx) error {
		delta = evaluate.NewCounts(journeySteps(pb)) // afresh: a retried transaction counts again
		outcomes = outcomes[:0]
		kept = kept[:0]
		fires := make([]*domain.Fire, 0, len(moves))
		fireOf := make([]int, len(moves))
		for i, mv := range moves {
			fireOf[i] = -1
			if !mv.fire {
				continue
			}
			f := &domain.Fire{RunID: run.ID, Playbook: pb.Name, Rule: j.Steps[mv.step].ID, CustomerID: mv.from.CustomerID,
				Seq: mv.from.Entry, Status: domain.FireFired, At: snap.Now, Hash: pb.Hash}
			if mv.from.Holdout {
				f.Status = domain.FireHoldout
			} else if mv.variant >= 0 {
				f.Variant = j.Steps[mv.step].Variants[mv.variant].ID
			}
			fireOf[i] = len(fires)
			fires = append(fires, f)
		}
		inserted, err := tx.InsertFires(fires)
		if err != nil {
			return err
		}
		// The state moves first, only from the step it is at: a move a
		// racing process made first leaves this one's fire to undo. A step
		// whose fire another process inserted is that process's to move.
		mvs := make([]domain.JourneyMove, 0, len(moves))
		mvOf := make([]int, 0, len(moves))
		var undone []int64
		for i, mv := range moves {
			if k := fireOf[i]; k >= 0 && !inserted[k] {
				delta[mv.step].Suppress(evaluate.CollisionReason(j.Steps[mv.step]), 1)
				note(mv, evaluate.CustomerOutcome{Outcome: evaluate.OutcomeSuppressed, Reason: evaluate.CollisionReason(j.Steps[mv.step])}, nil)
				continue
			}
			mvs = append(mvs, domain.JourneyMove{Journey: pb.Name, CustomerID: mv.from.CustomerID, Entry: mv.from.Entry, From: mv.from.NextStep, Next: mv.next})
			mvOf = append(mvOf, i)
		}
		moved, err := tx.AdvanceJourneys(mvs)
		if err != nil {
			return err
		}
		fx := stage.New(tx, snap, e.pondIsCurrent(snap.Pond(), tx.BaseVersion()), len(fires))
		fx.MaxAttempts, fx.HasWorker, fx.Guides, fx.TagSync = e.cfg.MaxAttempts, e.registry.HasWorker, e.cfg.Guides, e.cfg.TagSync
		actor := newFireActor(snap)
		for n, i := range mvOf {
			mv := moves[i]
			k := fireOf[i]
			switch {
			case k < 0:
				// An exit, a skip or a step the policy dropped: no fire.
				note(mv, mv.note, nil)
			case !moved[n]:
				undone = append(undone, fires[k].ID)
				delta[mv.step].Suppress(evaluate.CollisionReason(j.Steps[mv.step]), 1)
				note(mv, evaluate.CustomerOutcome{Outcome: evaluate.OutcomeSuppressed, Reason: evaluate.CollisionReason(j.Steps[mv.step])}, nil)
			case fires[k].Status == domain.FireHoldout:
				delta[mv.step].Suppress(evaluate.ReasonHoldout, 1)
				note(mv, evaluate.CustomerOutcome{Outcome: evaluate.OutcomeHoldout, Reason: evaluate.ReasonHoldout}, fires[k])
				kept = append(kept, keptFire{pos: mv.pos, fire: fires[k]})
			default:
				f := fires[k]
				var delay time.Duration
				if mv.deliverAt > 0 {
					delay = time.Duration(mv.deliverAt-snap.Now.UnixMilli()) * time.Millisecond
				}
				if err := actor.do(ctx, j.Steps[mv.step], mv.variant, f, mv.pos, fx, delay); err != nil {
					fx.Discard()
					if err := fx.Fatal(); err != nil {
						return err
					}
					// The step failed; the journey has gone on past it.
					delta[mv.step].Fail(mv.from.CustomerID + ": " + err.Error())
					note(mv, evaluate.CustomerOutcome{Outcome: evaluate.OutcomeError, Error: err.Error()}, f)
					undone = append(undone, f.ID)
					continue
				}
				fx.Keep()
				delta[mv.step].Fired++
				note(mv, evaluate.CustomerOutcome{Outcome: evaluate.OutcomeFired}, f)
				kept = append(kept, keptFire{pos: mv.pos, fire: f})
			}
		}
		if err := tx.DeleteFires(undone); err != nil {
			return err
		}
		if err := tx.ApplyEffects(fx.Out()); err != nil {
			return err
		}
		muts = fx.Changes()
		return nil
	})
	if err != nil {
		return fmt.Errorf("write steps: %w", err)
	}
	for _, k := range kept {
		run.noteFire(k.fire.ID)
	}
	e.applyMutations(snap, muts, version)
	touched := make([]int, 0, len(muts))
	for _, m := range muts {
		touched = append(touched, m.Cust)
	}
	if !snap.Sparse() {
		e.pondMu.RLock()
		snap.RefreshAll(touched)
		e.pondMu.RUnlock()
	}
	for i, c := range delta {
		run.Rules[i].Add(c)
	}
	run.Outcomes = append(run.Outcomes, outcomes...)
	if e.cfg.AfterBatch != nil {
		e.cfg.AfterBatch(pb.Name, len(moves))
	}
	return nil
}

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

// defaultMaxAttempts is Config.MaxAttempts's default.
const defaultMaxAttempts = 8

// Config is the engine's configuration.
type Config struct {
	Profile profile.ProfileConfig
	// Tiers are the member tiers, lowest first.
	Tiers []string
	// BatchSize is the number of fires written per transaction (default
	// 5000), and of due steps a journey pass reads and writes at a time. Larger batches write the pages they share (index pages, the
	// tail of the fires table) once instead of once per batch; smaller
	// ones hold the write lock for less time. At a million customers a
	// batch of 5000 commits in a few hundred milliseconds.
	BatchSize int
	// Logger receives operational messages; slog.Default() if nil.
	Logger *slog.Logger
	// AfterBatch, when set, is called after each committed batch of fires
	// (of a journey pass: of steps). Tests use it to stop a run at a known
	// point.
	AfterBatch func(playbook string, written int)
	// Observer, when set, is told about runs, events and loads (metrics).
	Observer Observer
	// MaxAttempts is how many times a job of the outbox is tried before it
	// is dead-lettered (default 8).
	MaxAttempts int
	// JobsQueued, when set, is called after fires that enqueued jobs
	// commit: the dispatcher's cue to look.
	JobsQueued func(n int)
	// Channels names the configured message channels, for validating
	// playbooks; nil accepts any name.
	Channels []string
	// Shapes bound what a message on a channel may carry (text length,
	// attachments), by channel name; checked when playbooks load.
	Shapes map[string]actions.MessageShape
	// Guides are the sales guides assign_guide chooses among, in the order
	// round robin takes them. Nil leaves playbooks unchecked against them
	// (checking without a deployment); the CLI always sets it.
	Guides []actions.Guide
	// TagSync maps, per channel that syncs tags (actions.TagSyncer), koi
	// tags to the channel's tag ids: a fire that adds or removes one
	// enqueues an actions.TagSyncKind job for the customer, in its
	// transaction.
	TagSync map[string]map[string]string
	// HeldFor is how long a run held by the blast guard waits for an
	// approval before it expires (default 72h).
	HeldFor time.Duration
	// Policy is koi.yaml's contact policy, which every playbook obeys.
	Policy rules.Policy
	// UnsubscribeEvent is the event type that opts its customer out of a
	// channel: the one in the event's attrs.channel, or every channel.
	UnsubscribeEvent string
	// Trace makes every run keep what each rule did for each customer it
	// matched (Run.Outcomes). koi test sets it; a server does not, since
	// a run over a million customers would hold a million outcomes.
	Trace bool
}

// Engine holds the loaded playbooks and evaluates them against the store.
type Engine struct {
	store    Store
	registry *actions.Registry
	cfg      Config
	log      *slog.Logger

	mu        sync.RWMutex
	playbooks map[string]*rules.Playbook
	files     map[string]*PlaybookFile // by path, as of the last load
	// onTypes maps event types to the playbooks with rules on them.
	onTypes map[string][]*rules.Playbook

	// writeMu serialises the engine's own store writes, so its changes
	// reach the in-memory pond in the order they committed.
	writeMu sync.Mutex
	// batchMem is the memory of the last batch of fires written, which
	// the next reuses, of whichever playbook (see write); guarded by
	// writeMu.
	batchMem batchMemory
	// ingest gathers event batches that arrive together (see AddEvents).
	ingest ingestQueue
	// background counts the work runs leave behind them; Wait joins it.
	background sync.WaitGroup
	// runway collects garbage before a run that would not fit in the
	// heap's room to grow (see runway).
	runway *runway
	// pondMu guards the pond's contents; pond is nil until first loaded.
	pondMu sync.RWMutex
	pond   *profile.Pond
	// history is the fire history of pond, by its positions.
	history *evaluate.History
	// spare is the memory of the last finished run's snapshot, for reuse.
	spareMu sync.Mutex
	spare   *profile.Snapshot
	// snapSlot is held by whoever computes a snapshot into the spare
	// memory (a run, for its whole length), so two never need two
	// snapshots' worth of memory, and runs never overlap.
	snapSlot chan struct{}
	// pop is the population of the latest snapshot, at popAt, kept for
	// scoring single profiles (lookups, event-triggered rules).
	popMu sync.Mutex
	pop   *profile.Population
	popAt time.Time
	// triggerKick wakes the trigger worker; triggerMu keeps one batch of
	// triggers at a time.
	triggerKick chan struct{}
	triggerMu   sync.Mutex
	// journeyMu keeps one journey pass (or decision on a held one) at a
	// time in this process: passes on events and every minute would
	// otherwise race for the same due steps (which the store settles,
	// but only after both did the work).
	journeyMu sync.Mutex
}

// Wait waits for the work runs left running when they returned (keeping
// a copy of the population for lookups). Call it before closing the store,
// once nothing starts runs any more.
func (e *Engine) Wait() { e.background.Wait() }

func (e *Engine) takeSpare() *profile.Snapshot {
	e.spareMu.Lock()
	defer e.spareMu.Unlock()
	s := e.spare
	e.spare = nil
	return s
}

func (e *Engine) putSpare(s *profile.Snapshot) {
	e.spareMu.Lock()
	defer e.spareMu.Unlock()
	e.spare = s
}

// New returns an engine over store with the actions in registry.
func New(store Store, registry *actions.Registry, cfg Config) *Engine {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.HeldFor <= 0 {
		cfg.HeldFor = 72 * time.Hour
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{store: store, registry: registry, cfg: cfg, log: log, playbooks: map[string]*rules.Playbook{},
		snapSlot: make(chan struct{}, 1), triggerKick: make(chan struct{}, 1), runway: newRunway()}
}

// holdSnapshot waits for the snapshot memory (see snapSlot), as long as ctx
// allows.
func (e *Engine) holdSnapshot(ctx context.Context) (release func(), err error) {
	select {
	case e.snapSlot <- struct{}{}:
		return func() { <-e.snapSlot }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// snapshotAt holds the snapshot memory (holdSnapshot) and computes the
// pond's profiles at at in it; done gives the memory back for the next.
func (e *Engine) snapshotAt(ctx context.Context, pond *profile.Pond, at time.Time) (snap *profile.Snapshot, done func(), err error) {
	release, err := e.holdSnapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	e.pondMu.RLock()
	snap = profile.RecomputeSnapshot(e.takeSpare(), pond, at, e.cfg.Profile)
	e.pondMu.RUnlock()
	return snap, func() {
		e.putSpare(snap)
		release()
	}, nil
}

// LoadOptions are the options playbooks must be loaded with for this engine.
func (e *Engine) LoadOptions() rules.Options {
	return rules.Options{Env: profile.ExprEnv(), Registry: e.registry, Tiers: e.cfg.Tiers, Timezone: e.cfg.Profile.Location,
		Channels: e.cfg.Channels, Shapes: e.cfg.Shapes, Guides: e.cfg.Guides, Sample: profile.SampleValues(), Policy: e.cfg.Policy}
}

// Playbooks returns the loaded playbooks by name.
func (e *Engine) Playbooks() []*rules.Playbook {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*rules.Playbook, 0, len(e.playbooks))
	for _, pb := range e.playbooks {
		out = append(out, pb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RunRequest says what to run.
type RunRequest struct {
	// Playbooks names the playbooks to run; empty runs all of them.
	Playbooks []string
	// At is the moment to evaluate.
	At time.Time
	// DryRun computes everything and writes nothing.
	DryRun bool
	// Trigger says what started the run, as recorded: TriggerManual
	// (the default), TriggerSchedule or TriggerLate.
	Trigger string
	// ApprovedBy approves the run in advance: the blast guard
	// (limits.max_fires) does not hold it, and the run records who
	// approved it. koi test runs this way: a handful of test customers are
	// not the audience a limit is for.
	ApprovedBy string

	// mergeMark is the newest merge when the run read its history (see
	// Run.mergeMark); marked says it was read.
	mergeMark int64
	marked    bool
}

// Run triggers.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	// TriggerLate is a scheduled run made up for after downtime: its
	// scheduled time passed while koi was not running.
	TriggerLate = "late"
)

// Run evaluates playbooks at req.At, one after another, so that what one
// playbook does (a tier, a tag, a coupon) is visible to the next. A
// journey's run is a pass (ProcessJourney): its scheduled entries, then
// every step due by req.At.
func (e *Engine) Run(ctx context.Context, req RunRequest) ([]*Run, error) {
	pbs, err := e.selectPlaybooks(req.Playbooks)
	if err != nil {
		return nil, err
	}
	byPriority(pbs)
	var journeys []*rules.Playbook
	pbs = slices.DeleteFunc(pbs, func(pb *rules.Playbook) bool {
		if pb.Journey != nil {
			journeys = append(journeys, pb)
		}
		return pb.Journey != nil
	})
	runs, err := e.runRules(ctx, pbs, req)
	if err != nil {
		return runs, err
	}
	// Journeys after the rules: a journey's pass reads the pond as the
	// rules left it, and computes profiles of its own.
	for _, pb := range journeys {
		r, err := e.runJourney(ctx, pb, req)
		if r != nil {
			runs = append(runs, r)
		}
		if err != nil {
			return runs, err
		}
	}
	return runs, nil
}

// runRules runs playbooks of rules (not journeys), in order, on one
// snapshot at req.At.
func (e *Engine) runRules(ctx context.Context, pbs []*rules.Playbook, req RunRequest) ([]*Run, error) {
	if len(pbs) == 0 {
		return nil, nil
	}
	pond, err := e.currentPond(ctx)
	if err != nil {
		return nil, err
	}
	if req.mergeMark, err = e.store.LatestMergeID(ctx); err != nil {
		return nil, err
	}
	req.marked = true
	allocs, collected := e.runway.before()
	defer e.runway.after(allocs)
	if collected > 0 {
		e.log.Debug("collected garbage before the run", "took", collected)
	}
	start := time.Now()
	snap, done, err := e.snapshotAt(ctx, pond, req.At)
	if err != nil {
		return nil, err
	}
	e.log.Debug("snapshot computed", "customers", snap.Len(), "took", time.Since(start))
	defer func() {
		// Keeping a copy of the population for single-profile lookups is
		// not the run's work: it is done after the run returns, still
		// holding the snapshot memory, which the next run waits for.
		e.background.Go(func() {
			e.keepPopulation(snap)
			done()
		})
	}()
	var (
		runs    []*Run
		ahead   *lookahead
		changed []profile.Touch // what the previous playbook changed
		// claims are the benefit-group fires of a dry run's playbooks so
		// far: it writes none, yet the playbooks after must see them, as
		// they would in a real run.
		claims = &evaluate.Marks{}
	)
	// The lookahead reads the snapshot, which goes back to the spare when
	// Run returns: it must be done by then.
	defer func() {
		if ahead != nil {
			ahead.wait()
		}
	}()
	refresh := func(idx []int) {
		e.pondMu.RLock()
		defer e.pondMu.RUnlock()
		snap.RefreshAll(idx)
	}
	for k, pb := range pbs {
		started := time.Now()
		var ev *evaluate.Evaluation
		if ahead != nil {
			started = ahead.started
			ev, err = ahead.settle(snap, changed, refresh)
			ahead = nil
		} else {
			refresh(changedCustomers(changed))
			var marks *evaluate.Marks
			if marks, err = e.marks(ctx, pb, snap.Pond()); err == nil {
				marks.LayOver(claims, pb.Groups())
				ev = evaluate.EvaluateWith(pb, snap, marks, runtime.GOMAXPROCS(0), e.cfg.Trace)
			}
		}
		if err != nil {
			return runs, fmt.Errorf("run %s: read fire marks: %w", pb.Name, err)
		}
		e.log.Debug("playbook evaluated", "playbook", pb.Name, "audience", ev.Audience, "fires", ev.Fires(), "took", time.Since(started))
		// A lookahead patches evaluations it made untraced. It reads the
		// fire history while this playbook writes, so it cannot see this
		// playbook's fires: not for a playbook sharing a benefit group.
		if k+1 < len(pbs) && !req.DryRun && !e.cfg.Trace && !evaluate.ShareGroup(pb, pbs[k+1]) {
			ahead = e.startLookahead(ctx, pbs[k+1], snap)
		}
		var r *Run
		r, changed, err = e.runPlaybook(ctx, pb, snap, ev, started, req)
		if r != nil {
			runs = append(runs, r)
			// A real run's fires are in the store for the playbooks after
			// it (with only the fires that were written); a dry run's
			// exist only here.
			if req.DryRun && r.Status == RunDone && k+1 < len(pbs) {
				ev.ClaimGroups(pb, snap, claims)
			}
		}
		if err != nil {
			return runs, fmt.Errorf("run %s: %w", pb.Name, err)
		}
	}
	return runs, nil
}

// changedCustomers returns the customers of changes, each once, in
// order.
func changedCustomers(changes []profile.Touch) []int {
	custs := make([]int, len(changes))
	for i, c := range changes {
		custs[i] = int(c.Cust)
	}
	slices.Sort(custs)
	return slices.Compact(custs)
}

// byPriority orders the playbooks of one run so that those with the
// highest rule priority go first: the frequency cap is taken in run order,
// so a priority-10 rule of one playbook must not lose to a priority-0
// rule of a playbook that happens to sort earlier. Equal ones keep their
// order (by name).
func byPriority(pbs []*rules.Playbook) {
	top := func(pb *rules.Playbook) int {
		p := math.MinInt
		for _, r := range pb.Rules {
			p = max(p, r.Priority)
		}
		return p
	}
	sort.SliceStable(pbs, func(i, j int) bool { return top(pbs[i]) > top(pbs[j]) })
}

func (e *Engine) selectPlaybooks(names []string) ([]*rules.Playbook, error) {
	all := e.Playbooks()
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]*rules.Playbook{}
	for _, pb := range all {
		byName[pb.Name] = pb
	}
	var out []*rules.Playbook
	for _, n := range names {
		pb, ok := byName[n]
		if !ok {
			known := make([]string, len(all))
			for i, p := range all {
				known[i] = p.Name
			}
			return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no playbook named %q (loaded: %v)", n, known)}
		}
		out = append(out, pb)
	}
	return out, nil
}

// Limit returns the blast guard of pb for an audience of n customers.
func Limit(pb *rules.Playbook, audience int) int {
	return pb.MaxFires.Of(audience)
}

// runPlaybook records and writes a playbook's evaluation, and returns the
// changes it made to customers.
func (e *Engine) runPlaybook(ctx context.Context, pb *rules.Playbook, snap *profile.Snapshot, ev *evaluate.Evaluation, started time.Time, req RunRequest) (*Run, []profile.Touch, error) {
	dryRun := req.DryRun
	trigger := req.Trigger
	if trigger == "" {
		trigger = TriggerManual
	}
	run := &Run{Playbook: pb.Name, Hash: pb.Hash, File: absPath(pb.File), At: snap.Now, StartedAt: started, Status: RunRunning, DryRun: dryRun, Trigger: trigger,
		mergeMark: req.mergeMark, marked: req.marked}
	run.Audience = ev.Audience
	run.Rules = ev.Counts
	if ev.Trace {
		defer func() { run.Outcomes = ev.Outcomes(pb, snap, run.Status == RunHeld) }()
	}
	run.Limit = Limit(pb, ev.Audience)
	if ev.LimitBase > 0 {
		run.Limit = Limit(pb, ev.LimitBase)
	}
	if req.ApprovedBy != "" {
		run.Limit = math.MaxInt32
		run.DecidedBy, run.DecidedAt = req.ApprovedBy, &started
	}
	if !dryRun {
		if err := e.store.StartRun(ctx, run); err != nil {
			return nil, nil, fmt.Errorf("start run: %w", err)
		}
	}
	if n := ev.Fires(); n > run.Limit {
		// Blast guard: nothing fires. Every would-be fire is reported as
		// suppressed so the marketer sees the size of what was stopped.
		for _, c := range run.Rules {
			c.Suppress(evaluate.ReasonBlastGuard, c.Fired)
			c.Fired = 0
		}
		run.Status = RunHeld
		run.Error = fmt.Sprintf("held by the blast guard: %d fires exceed limits.max_fires %d; approve or reject it (koi approve %d)", n, run.Limit, run.ID)
		if dryRun {
			// Nothing was recorded, so there is nothing to approve: a real
			// run would be held and wait for a decision.
			run.Error = fmt.Sprintf("held by the blast guard: %d fires exceed limits.max_fires %d; a real run would wait for approval (koi approve RUN, with the id that run prints)", n, run.Limit)
		}
		if !dryRun {
			expires := time.Now().Add(e.cfg.HeldFor)
			run.ExpiresAt = &expires
			if err := e.store.HoldRun(ctx, run.ID, evaluate.Hold(pb, snap, ev), expires); err != nil {
				run.Status, run.Error = RunFailed, err.Error()
				_ = e.finish(ctx, run)
				return run, nil, fmt.Errorf("hold run: %w", err)
			}
		}
		return run, nil, e.finish(ctx, run)
	}
	if dryRun {
		run.Status = RunDone
		run.EndedAt = time.Now()
		run.tally()
		return run, nil, nil
	}
	// The evaluation's fire counts are what should fire; writing recounts
	// what did, since another run may have claimed a fire meanwhile.
	for _, c := range run.Rules {
		c.Fired = 0
	}
	written := time.Now()
	changed, err := e.write(ctx, pb, snap, run, ev)
	e.log.Debug("playbook written", "playbook", pb.Name, "fires", len(ev.Decisions), "took", time.Since(written))
	if err != nil {
		run.Status = RunFailed
		run.Error = err.Error()
		_ = e.finish(ctx, run)
		return run, changed, err
	}
	run.Status = RunDone
	return run, changed, e.finish(ctx, run)
}

// absPath is path made absolute, or path itself when it cannot be (or is
// empty: a playbook loaded from memory).
func absPath(path string) string {
	if path == "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

func (e *Engine) finish(ctx context.Context, run *Run) error {
	run.EndedAt = time.Now()
	run.tally()
	if run.DryRun {
		return nil
	}
	// A cancelled context must not leave the run looking alive.
	if err := e.store.FinishRun(context.WithoutCancel(ctx), run); err != nil {
		return fmt.Errorf("finish run: %w", err)
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.RunFinished(run)
	}
	return nil
}

func (r *Run) tally() {
	r.Matched, r.Fired = 0, 0
	for _, c := range r.Rules {
		r.Matched += c.Matched
		r.Fired += c.Fired
	}
}

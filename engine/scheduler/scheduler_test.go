package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/scheduler"
	"github.com/koihq/koi/rules"
)

var shanghai = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func playbook(name, schedule string, loc *time.Location) *rules.Playbook {
	c, err := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor).Parse(schedule)
	if err != nil {
		panic(err)
	}
	return &rules.Playbook{Name: name, Schedule: schedule, Cron: c, Location: loc}
}

// runner records runs; a run blocks while hold is set, until released or
// its context is cancelled.
type runner struct {
	mu      sync.Mutex
	runs    []engine.RunRequest
	last    map[string]time.Time
	running int
	most    int
	hold    chan struct{}
	started chan engine.RunRequest
	// ended has each run as it returns.
	ended  chan engine.RunRequest
	ctxErr error
}

func newRunner() *runner {
	return &runner{last: map[string]time.Time{}, started: make(chan engine.RunRequest, 16), ended: make(chan engine.RunRequest, 16)}
}

func (r *runner) Run(ctx context.Context, req engine.RunRequest) ([]*engine.Run, error) {
	r.mu.Lock()
	r.runs = append(r.runs, req)
	r.running++
	r.most = max(r.most, r.running)
	hold := r.hold
	r.mu.Unlock()
	r.started <- req
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			r.mu.Lock()
			r.ctxErr = ctx.Err()
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	r.ended <- req
	return []*engine.Run{{Playbook: req.Playbooks[0], Status: engine.RunDone, Trigger: req.Trigger}}, nil
}

func (r *runner) LastRunAt(_ context.Context, playbook string) (time.Time, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.last[playbook]
	return t, ok, nil
}

// timers waits until the scheduler has set a timer on the clock for each
// of its jobs. gocron sets them on its own goroutines, at start and after
// each fire (the job's next run, whether the fire ran or was skipped); a
// clock moved before they are set passes them by.
func timers(t *testing.T, clock *clockwork.FakeClock, jobs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, jobs); err != nil {
		t.Fatalf("the scheduler did not set the timers of its %d jobs: %v", jobs, err)
	}
}

// advance moves the clock by d once the timers of the scheduler's jobs are
// set.
func advance(t *testing.T, clock *clockwork.FakeClock, jobs int, d time.Duration) {
	t.Helper()
	timers(t, clock, jobs)
	clock.Advance(d)
}

// runsOf waits for the runs of names that the clock's last move set off,
// moving it on by step while some are missing, and returns the first run
// of each. gocron lets go of a job a moment after its task returns, with
// nothing a test could wait on, and skips a fire that comes in that moment
// as it skips any overlap, setting the next one; so a job that has just
// run may run a step later, though never twice at once. A skipped fire
// says nothing either: once the timers are set again (every fire handled),
// runsOf waits for the runs a while, then takes the next step.
func (r *runner) runsOf(t *testing.T, clock *clockwork.FakeClock, jobs int, step time.Duration, names ...string) map[string]engine.RunRequest {
	t.Helper()
	got := map[string]engine.RunRequest{}
	for steps := 0; ; steps++ {
		timers(t, clock, jobs)
		for wait := time.After(2 * time.Second); len(got) < len(names); {
			select {
			case req := <-r.started:
				if _, ok := got[req.Playbooks[0]]; !ok {
					got[req.Playbooks[0]] = req
				}
				continue
			case <-wait:
			}
			break
		}
		if len(got) == len(names) {
			return got
		}
		if steps == 10 {
			t.Fatalf("after %d more steps of %v, runs of %v only", steps, step, got)
		}
		clock.Advance(step)
	}
}

// next waits for the next run to start.
func (r *runner) next(t *testing.T) engine.RunRequest {
	t.Helper()
	select {
	case req := <-r.started:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("no run started")
		return engine.RunRequest{}
	}
}

// none checks that no run starts for a moment.
func (r *runner) none(t *testing.T) {
	t.Helper()
	select {
	case req := <-r.started:
		t.Fatalf("unexpected run %+v", req)
	case <-time.After(200 * time.Millisecond):
	}
}

func start(t *testing.T, r *runner, clock clockwork.Clock, pbs ...*rules.Playbook) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(r, scheduler.Options{Clock: clock, StopTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(pbs); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown() })
	return s
}

// A playbook runs at its cron time in its own timezone: 10:00 in Shanghai
// is 02:00 UTC.
func TestRunsOnScheduleInItsTimezone(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 1, 59, 0, 0, time.UTC))
	r := newRunner()
	s := start(t, r, clock, playbook("daily", "0 10 * * *", shanghai))
	next, ok := s.NextRun("daily")
	if want := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC); !ok || !next.Equal(want) {
		t.Fatalf("next run %v, want %v", next, want)
	}
	r.none(t)
	advance(t, clock, 1, time.Minute)
	req := r.next(t)
	if req.Trigger != engine.TriggerSchedule || req.Playbooks[0] != "daily" || !req.At.Equal(time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("run %+v", req)
	}
}

// After downtime, a missed run is made up once, as late; a playbook that
// ran at its last scheduled time, or never ran, waits for its next one.
func TestMissedRunIsMadeUpOnceAsLate(t *testing.T) {
	now := time.Date(2026, 5, 3, 5, 0, 0, 0, time.UTC) // 13:00 in Shanghai
	clock := clockwork.NewFakeClockAt(now)
	r := newRunner()
	r.last["missed"] = time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC) // due again on the 2nd and 3rd
	r.last["current"] = time.Date(2026, 5, 3, 2, 0, 0, 0, time.UTC)
	start(t, r, clock,
		playbook("missed", "0 10 * * *", shanghai),
		playbook("current", "0 10 * * *", shanghai),
		playbook("new", "0 10 * * *", shanghai))
	req := r.next(t)
	if req.Playbooks[0] != "missed" || req.Trigger != engine.TriggerLate || !req.At.Equal(now) {
		t.Fatalf("made-up run %+v", req)
	}
	r.none(t)
	// 10:00 in Shanghai on the 4th: each one's next run is a scheduled one
	// (the made-up run's job may still be letting go of it, and run a day
	// later).
	advance(t, clock, 3, 21*time.Hour)
	got := r.runsOf(t, clock, 3, 24*time.Hour, "missed", "current", "new")
	for _, name := range []string{"missed", "current", "new"} {
		if got[name].Trigger != engine.TriggerSchedule {
			t.Errorf("%s after the made-up run: %q, want a scheduled run", name, got[name].Trigger)
		}
	}
}

// A run still going at its next scheduled time is not overlapped.
func TestRunsNeverOverlap(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 0, 0, 30, 0, time.UTC))
	r := newRunner()
	r.hold = make(chan struct{})
	start(t, r, clock, playbook("often", "* * * * *", time.UTC))
	advance(t, clock, 1, 30*time.Second)
	r.next(t)
	advance(t, clock, 1, time.Minute) // due again while the first still runs
	timers(t, clock, 1)               // that fire was handled, and the next one set
	r.none(t)
	close(r.hold)
	// Once the first has returned, the job runs again.
	select {
	case <-r.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the first run did not return")
	}
	advance(t, clock, 1, time.Minute)
	r.runsOf(t, clock, 1, time.Minute, "often")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.most != 1 {
		t.Fatalf("%d runs at once", r.most)
	}
}

// Sync keeps the job of a playbook whose schedule did not change,
// reschedules one whose did, and drops one that is gone.
func TestSyncKeepsUnchangedSchedules(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	r := newRunner()
	s := start(t, r, clock,
		playbook("same", "0 10 * * *", shanghai),
		playbook("moved", "0 10 * * *", shanghai),
		playbook("gone", "0 10 * * *", shanghai))
	if err := s.Sync([]*rules.Playbook{
		playbook("same", "0 10 * * *", shanghai),
		playbook("moved", "0 12 * * *", shanghai),
		{Name: "unscheduled"},
	}); err != nil {
		t.Fatal(err)
	}
	if next, ok := s.NextRun("same"); !ok || !next.Equal(time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("same: next %v %v", next, ok)
	}
	if next, ok := s.NextRun("moved"); !ok || !next.Equal(time.Date(2026, 5, 1, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("moved: next %v %v", next, ok)
	}
	for _, name := range []string{"gone", "unscheduled"} {
		if _, ok := s.NextRun(name); ok {
			t.Errorf("%s is still scheduled", name)
		}
	}
}

// Shutdown waits for a running playbook up to its timeout, then cancels
// it and waits for it to return.
func TestShutdownWaitsThenCancels(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 0, 0, 30, 0, time.UTC))
	r := newRunner()
	r.hold = make(chan struct{}) // never released
	s, err := scheduler.New(r, scheduler.Options{Clock: clock, StopTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync([]*rules.Playbook{playbook("slow", "* * * * *", time.UTC)}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	advance(t, clock, 1, 30*time.Second)
	r.next(t)
	begin := time.Now()
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(begin)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctxErr == nil || r.running != 0 {
		t.Fatalf("after shutdown: ctx err %v, %d running", r.ctxErr, r.running)
	}
	if waited < 250*time.Millisecond {
		t.Fatalf("shutdown cancelled the run after %v, before its timeout", waited)
	}
}

// elector is a gocron.Elector whose answer a test sets; asked tells when
// it was asked.
type elector struct {
	leader atomic.Bool
	asked  chan struct{}
}

func (e *elector) IsLeader(context.Context) error {
	select {
	case e.asked <- struct{}{}:
	default:
	}
	if e.leader.Load() {
		return nil
	}
	return errors.New("not the leader")
}

// With an elector, only the leader runs jobs: the hook several koi
// processes sharing a database would use.
func TestElectorDecidesWhoRuns(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 9, 59, 30, 0, time.UTC))
	r := newRunner()
	el := &elector{asked: make(chan struct{}, 1)}
	s, err := scheduler.New(r, scheduler.Options{Clock: clock, StopTimeout: 300 * time.Millisecond, Elector: el})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	if err := s.Sync([]*rules.Playbook{playbook("daily", "* * * * *", time.UTC)}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	advance(t, clock, 1, time.Minute)
	select {
	case <-el.asked: // the fire came, and the elector said no
	case <-time.After(10 * time.Second):
		t.Fatal("the elector was never asked")
	}
	r.none(t)
	el.leader.Store(true)
	advance(t, clock, 1, time.Minute)
	r.runsOf(t, clock, 1, time.Minute, "daily")
}

// NextDue and RunScheduled step a fake clock through the schedules as the
// jobs run them: each playbook at its own cron time in its own timezone,
// those due together named together, each run recorded as a schedule run
// at the clock's moment.
func TestNextDueStepsThroughTheSchedules(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 10, 17, 0, 0, 0, 0, time.UTC))
	r := newRunner()
	s, err := scheduler.New(r, scheduler.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	utcEight := mustLoad("Asia/Singapore")
	if err := s.Sync([]*rules.Playbook{
		playbook("member-day", "0 8 18 * *", shanghai),
		playbook("morning", "0 0 * * *", utcEight),
		playbook("midnight-utc", "0 16 * * *", time.UTC),
	}); err != nil {
		t.Fatal(err)
	}
	at, due := s.NextDue(clock.Now())
	// 16:00 UTC is midnight in Singapore: two due together.
	if want := time.Date(2026, 10, 17, 16, 0, 0, 0, time.UTC); !at.Equal(want) || fmt.Sprint(due) != "[midnight-utc morning]" {
		t.Fatalf("first due %v %v, want %v [midnight-utc morning]", at, due, want)
	}
	clock.Advance(at.Sub(clock.Now()))
	for _, name := range due {
		s.RunScheduled(name)
	}
	at, due = s.NextDue(clock.Now())
	if want := time.Date(2026, 10, 18, 0, 0, 0, 0, time.UTC); !at.Equal(want) || fmt.Sprint(due) != "[member-day]" {
		t.Fatalf("then %v %v, want member day at 08:00 Shanghai, %v", at, due, want)
	}
	if len(r.runs) != 2 || r.runs[0].Trigger != engine.TriggerSchedule || !r.runs[1].At.Equal(time.Date(2026, 10, 17, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("runs %+v", r.runs)
	}
}

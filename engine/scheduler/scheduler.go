// Package scheduler runs playbooks on their schedules, with gocron: one
// job per playbook, on its cron and in its timezone, never overlapping
// itself. A scheduled time that passed while koi was down is made up for
// once, when the playbook is scheduled again, and recorded as late.
//
// Several koi processes sharing one database would each run the jobs;
// gocron's Elector or Locker can keep one of them from doing so, but a
// locker alone does not guarantee one run per schedule (go-co-op/gocron
// #841). What makes a double run harmless is the fire key: a (rule,
// customer, period) fires once however often the playbook runs.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/rules"
)

// Runner runs playbooks; *engine.Engine is one.
type Runner interface {
	Run(ctx context.Context, req engine.RunRequest) ([]*engine.Run, error)
	LastRunAt(ctx context.Context, playbook string) (time.Time, bool, error)
}

// Options configure a Scheduler.
type Options struct {
	// Clock is the scheduler's time (default: the real clock); tests use
	// a fake one.
	Clock clockwork.Clock
	// StopTimeout is how long Shutdown waits for running playbooks before
	// cancelling them (default 30 s). A cancelled run stops between
	// batches; what it committed stands.
	StopTimeout time.Duration
	// Log receives runs and failures (default slog.Default()).
	Log *slog.Logger
	// Elector, when set, lets only the leader of several koi processes
	// sharing a database run jobs; Locker, when set, takes a lock per run
	// (keyed by playbook). Both are gocron's interfaces, so a lock service
	// (a database row, etcd, Redis) plugs in without koi changes. Neither
	// is needed for correctness: a double run fires nothing twice.
	Elector gocron.Elector
	Locker  gocron.Locker
}

// Scheduler runs playbooks on their schedules.
type Scheduler struct {
	runner  Runner
	clock   clockwork.Clock
	log     *slog.Logger
	cron    gocron.Scheduler
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration

	mu   sync.Mutex
	jobs map[string]job // by playbook name
	// late holds the playbooks whose next run makes up for a missed one.
	late map[string]bool
	// started is set by Start; missed runs found before it wait for it.
	started bool
	owed    []gocron.Job
}

type job struct {
	id  uuid.UUID
	key string // schedule and timezone: a job is replaced only when they change
	// sched is the playbook's schedule in its timezone, as the job runs it.
	sched cron.Schedule
}

// New returns a scheduler with no jobs; Sync adds them and Start starts it.
func New(r Runner, opts Options) (*Scheduler, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	// gocron's own stop timeout stays off: Shutdown waits, then cancels
	// the runs' context, then waits for them to return.
	sopts := []gocron.SchedulerOption{gocron.WithClock(opts.Clock)}
	if opts.Elector != nil {
		sopts = append(sopts, gocron.WithDistributedElector(opts.Elector))
	}
	if opts.Locker != nil {
		sopts = append(sopts, gocron.WithDistributedLocker(opts.Locker))
	}
	c, err := gocron.NewScheduler(sopts...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{runner: r, clock: opts.Clock, log: opts.Log, cron: c, ctx: ctx, cancel: cancel,
		timeout: opts.StopTimeout, jobs: map[string]job{}, late: map[string]bool{}}, nil
}

// Sync makes the jobs match pbs: a job for each playbook with a schedule,
// none for the others. A playbook whose schedule and timezone did not
// change keeps its job, and so its next run. A playbook scheduled anew
// whose last run is older than its latest scheduled time (koi was down
// when it was due) runs once now, recorded as late.
func (s *Scheduler) Sync(pbs []*rules.Playbook) error {
	owed, err := s.sync(pbs)
	// The made-up runs go through their jobs, so that they cannot overlap a
	// scheduled run; outside the lock, which the runs take.
	for _, j := range owed {
		if rerr := j.RunNow(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("make up the missed run of %s: %w", j.Name(), rerr))
		}
	}
	return err
}

func (s *Scheduler) sync(pbs []*rules.Playbook) ([]gocron.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var owed []gocron.Job
	want := map[string]*rules.Playbook{}
	for _, pb := range pbs {
		if pb.Cron != nil {
			want[pb.Name] = pb
		}
	}
	var errs []error
	for name, j := range s.jobs {
		if pb, ok := want[name]; ok && jobKey(pb) == j.key {
			continue
		}
		if err := s.cron.RemoveJob(j.id); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			errs = append(errs, fmt.Errorf("unschedule %s: %w", name, err))
		}
		delete(s.jobs, name)
	}
	for name, pb := range want {
		if _, ok := s.jobs[name]; ok {
			continue
		}
		sched, err := parseSchedule(pb)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
			continue
		}
		j, err := s.cron.NewJob(gocron.CronJob(pb.Schedule, false),
			gocron.NewTask(s.run, name, engine.TriggerSchedule),
			gocron.WithName(name),
			gocron.WithCronImplementation(&fixedCron{sched}),
			gocron.WithSingletonMode(gocron.LimitModeReschedule))
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
			continue
		}
		s.jobs[name] = job{id: j.ID(), key: jobKey(pb), sched: sched}
		if s.missed(name, sched) {
			s.late[name] = true
			if s.started {
				owed = append(owed, j)
			} else {
				s.owed = append(s.owed, j)
			}
		}
	}
	return owed, errors.Join(errs...)
}

// missed reports whether a scheduled time of the playbook passed after its
// last finished run. A playbook that never ran has missed nothing.
func (s *Scheduler) missed(name string, sched cron.Schedule) bool {
	last, ok, err := s.runner.LastRunAt(s.ctx, name)
	if err != nil {
		s.log.Error("reading the last run failed; not making up a missed run", "playbook", name, "err", err)
		return false
	}
	if !ok {
		return false
	}
	next := sched.Next(last)
	return !next.IsZero() && !next.After(s.clock.Now())
}

// run is a job's task. The run that makes up for a missed one is
// recorded as late.
func (s *Scheduler) run(name, trigger string) {
	s.mu.Lock()
	if s.late[name] {
		trigger = engine.TriggerLate
		delete(s.late, name)
	}
	s.mu.Unlock()
	start := s.clock.Now()
	runs, err := s.runner.Run(s.ctx, engine.RunRequest{Playbooks: []string{name}, At: start, Trigger: trigger})
	if err != nil {
		s.log.Error("scheduled run failed", "playbook", name, "trigger", trigger, "err", err)
		return
	}
	for _, r := range runs {
		s.log.Info("scheduled run", "playbook", r.Playbook, "trigger", trigger, "status", r.Status,
			"matched", r.Matched, "fired", r.Fired, "took", s.clock.Since(start))
	}
}

// NextDue returns the earliest moment after after at which a scheduled
// playbook is due, by the schedules the jobs run on, and the playbooks due
// then, sorted; the zero time when none is scheduled. With RunScheduled it
// lets a simulation on a fake clock step from one scheduled moment to the
// next itself, without waiting on gocron's timers and goroutines.
func (s *Scheduler) NextDue(after time.Time) (time.Time, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	var due []string
	for name, j := range s.jobs {
		next := j.sched.Next(after)
		switch {
		case next.IsZero():
		case at.IsZero() || next.Before(at):
			at, due = next, []string{name}
		case next.Equal(at):
			due = append(due, name)
		}
	}
	slices.Sort(due)
	return at, due
}

// RunScheduled runs a scheduled playbook now, by the clock, as its job
// does when its time comes (recorded as a schedule run), and waits for it.
func (s *Scheduler) RunScheduled(name string) {
	s.run(name, engine.TriggerSchedule)
}

// Start starts running jobs, and the runs that make up for missed ones.
func (s *Scheduler) Start() {
	s.cron.Start()
	s.mu.Lock()
	s.started = true
	owed := s.owed
	s.owed = nil
	s.mu.Unlock()
	for _, j := range owed {
		if err := j.RunNow(); err != nil {
			s.log.Error("making up a missed run failed", "playbook", j.Name(), "err", err)
		}
	}
}

// Shutdown stops scheduling, waits up to the stop timeout for running
// playbooks, then cancels them and waits for them to return.
func (s *Scheduler) Shutdown() error {
	done := make(chan error, 1)
	go func() { done <- s.cron.Shutdown() }()
	select {
	case err := <-done:
		s.cancel()
		return err
	case <-time.After(s.timeout):
		s.log.Warn("runs still going at shutdown; cancelling them", "waited", s.timeout)
		s.cancel()
		return <-done
	}
}

// NextRun returns when the playbook runs next, and false when it is not
// scheduled.
func (s *Scheduler) NextRun(name string) (time.Time, bool) {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}, false
	}
	for _, cj := range s.cron.Jobs() {
		if cj.ID() == j.id {
			next, err := cj.NextRun()
			return next, err == nil
		}
	}
	return time.Time{}, false
}

func jobKey(pb *rules.Playbook) string { return pb.Location.String() + " " + pb.Schedule }

// parseSchedule parses the playbook's schedule in its timezone, as the
// playbook loader validated it.
func parseSchedule(pb *rules.Playbook) (cron.Schedule, error) {
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	return p.Parse("CRON_TZ=" + pb.Location.String() + " " + pb.Schedule)
}

// fixedCron hands gocron a schedule parsed already, in the playbook's
// timezone, with descriptors like @every that gocron's cron parser would
// read in the scheduler's timezone.
type fixedCron struct{ sched cron.Schedule }

func (c *fixedCron) IsValid(string, *time.Location, time.Time) error { return nil }
func (c *fixedCron) Next(last time.Time) time.Time                   { return c.sched.Next(last) }

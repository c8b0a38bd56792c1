// Package dispatch delivers the jobs of koi's outbox: messages, webhooks,
// plugin calls that fires enqueued in their transactions. Delivery is at
// least once: an outcome is recorded only after the attempt, so a crash
// between the two repeats the attempt, and the job's idempotency key lets
// the receiver drop the repeat.
//
// One dispatcher per database delivers (a file lock elects it); others
// stand by. Jobs in flight are claimed in memory, not in the database, so
// an attempt costs no write before it is made; outcomes are written in
// batches, many per transaction.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// Options tune a dispatcher. Zero values take the defaults.
type Options struct {
	// Concurrency is how many deliveries run at once (16).
	Concurrency int
	// Batch is how many due jobs are read at a time (256).
	Batch int
	// Poll is how often to look for due jobs without a nudge (1s): retries
	// coming due, jobs other processes enqueued.
	Poll time.Duration
	// Timeout bounds one attempt (10s).
	Timeout time.Duration
	// Backoff is the delay after the first failed attempt (10s); it doubles
	// with every further one, up to MaxBackoff (1h), and is jittered.
	Backoff, MaxBackoff time.Duration
	// Rates limit deliveries per second by rate group: a job's channel,
	// or its kind when it has none. A group without a rate is unlimited.
	Rates map[string]float64
	// Retention is how long finished jobs are kept (7 days); dead ones
	// stay until an operator deals with them.
	Retention time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// Delivered, when set, is told each job's outcome (metrics), skipped
	// and cancelled ones included, and the final outcome of each tracked
	// one (took is then how long it was tracked).
	Delivered func(j *domain.Job, state domain.JobState, took time.Duration)
	// MaxBatch bounds the jobs of one batch key handed to a BatchWorker in
	// one call (10,000: WeCom's most customers in one task).
	MaxBatch int
	// Trackers are the channels that track what they accepted (WeCom
	// tasks), by channel name; a server polls them (see track.go).
	Trackers map[string]actions.Tracker
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Concurrency, 16)
	def(&o.Batch, 256)
	def(&o.MaxBatch, 10_000)
	defDur(&o.Poll, time.Second)
	defDur(&o.Timeout, 10*time.Second)
	defDur(&o.Backoff, 10*time.Second)
	defDur(&o.MaxBackoff, time.Hour)
	defDur(&o.Retention, 7*24*time.Hour)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Dispatcher delivers due jobs with their kinds' workers.
type Dispatcher struct {
	store    engine.JobStore
	workers  map[string]actions.Worker
	opts     Options
	limiters map[string]*rate.Limiter
	nudgec   chan struct{}

	mu       sync.Mutex
	inflight map[int64]bool
	// released maps jobs the writer released since the last claim to the
	// epoch of their release. A claim skips jobs released after its read
	// began: the read may predate the outcome's commit, and would
	// deliver the job again.
	released map[int64]uint64
	epoch    uint64
	// paused maps rate groups a receiver throttled to when they may be
	// tried again: their jobs wait without an attempt until then.
	paused map[string]time.Time
	// writeFailing is set while recording outcomes fails: the fetcher
	// then claims no new work.
	writeFailing atomic.Bool
}

// New returns a dispatcher over store, delivering each job kind with its
// worker.
func New(store engine.JobStore, workers map[string]actions.Worker, opts Options) *Dispatcher {
	opts.defaults()
	d := &Dispatcher{store: store, workers: workers, opts: opts, limiters: map[string]*rate.Limiter{},
		nudgec: make(chan struct{}, 1), inflight: map[int64]bool{}, released: map[int64]uint64{}, paused: map[string]time.Time{}}
	for group, perSecond := range opts.Rates {
		// A burst of one second's worth: a queue that waited may catch up
		// at once, no faster.
		d.limiters[group] = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
	}
	return d
}

// Nudge tells the dispatcher that jobs were enqueued; it never blocks.
func (d *Dispatcher) Nudge() {
	select {
	case d.nudgec <- struct{}{}:
	default:
	}
}

// Run takes the dispatch lock, waiting while another process holds it,
// and delivers until ctx ends. Attempts under way when it ends finish (each
// within Timeout) and are recorded before Run returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	release, err := d.lock(ctx)
	if err != nil || release == nil {
		return err
	}
	defer release()
	_, err = d.loop(ctx, false)
	return err
}

// Drain delivers every job due now and returns how many attempts it made,
// or does nothing when another process dispatches. `koi run` uses it to
// send what its run enqueued.
func (d *Dispatcher) Drain(ctx context.Context) (int, error) {
	release, ok, err := d.store.LockDispatch()
	if err != nil {
		return 0, fmt.Errorf("dispatch lock: %w", err)
	}
	if !ok {
		d.opts.Logger.Info("another koi process dispatches; leaving the outbox to it")
		return 0, nil
	}
	defer release()
	return d.loop(ctx, true)
}

// lock waits for the dispatch lock; a nil release means ctx ended first.
func (d *Dispatcher) lock(ctx context.Context) (func(), error) {
	logged := false
	for {
		release, ok, err := d.store.LockDispatch()
		if err != nil {
			return nil, fmt.Errorf("dispatch lock: %w", err)
		}
		if ok {
			if logged {
				d.opts.Logger.Info("took over dispatching")
			}
			return release, nil
		}
		if !logged {
			d.opts.Logger.Info("another koi process dispatches; standing by")
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(5 * time.Second):
		}
	}
}

// item is a claimed job and its customer's contact; rest are the other
// jobs of its batch, delivered in the same call.
type item struct {
	job     *domain.Job
	contact *actions.Contact
	rest    []item
}

// result is an attempt's outcome; a nil outcome releases an unattempted
// claim.
type result struct {
	id      int64
	outcome *domain.JobOutcome
}

// loop runs the fetcher, the workers and the writer until ctx ends, or,
// when drain is set, until nothing is due. It returns how many attempts
// it recorded.
func (d *Dispatcher) loop(ctx context.Context, drain bool) (int, error) {
	items := make(chan item, d.opts.Concurrency)
	results := make(chan result, d.opts.Concurrency*4)
	var workers sync.WaitGroup
	for range d.opts.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for it := range items {
				start := time.Now()
				group := append([]item{it}, it.rest...)
				for i, r := range d.attempt(ctx, group) {
					if r.outcome != nil && d.opts.Delivered != nil {
						d.opts.Delivered(group[i].job, r.outcome.State, time.Since(start))
					}
					results <- r
				}
			}
		}()
	}
	type written struct {
		n   int
		err error
	}
	writerDone := make(chan written, 1)
	go func() {
		n, err := d.writer(results)
		writerDone <- written{n, err}
	}()
	var tracker sync.WaitGroup
	if !drain && len(d.opts.Trackers) > 0 {
		tracker.Add(1)
		go func() {
			defer tracker.Done()
			d.track(ctx)
		}()
	}

	fetchErr := d.fetch(ctx, items, drain)
	close(items)
	workers.Wait()
	close(results)
	w := <-writerDone
	tracker.Wait()
	return w.n, errors.Join(fetchErr, w.err)
}

// fetch feeds due jobs to the workers.
func (d *Dispatcher) fetch(ctx context.Context, items chan<- item, drain bool) error {
	poll := time.NewTicker(d.opts.Poll)
	defer poll.Stop()
	purged := time.Time{}
	readLog := newThrottledLog(d.opts.Logger, 30*time.Second)
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := d.opts.Now()
		if now.Sub(purged) > time.Hour {
			purged = now
			if n, err := d.store.PurgeJobs(ctx, now.Add(-d.opts.Retention)); err != nil {
				d.opts.Logger.Warn("purging finished jobs failed", "err", err)
			} else if n > 0 {
				d.opts.Logger.Info("purged finished jobs", "jobs", n, "older_than", d.opts.Retention)
			}
		}
		if d.writeFailing.Load() {
			// Outcomes cannot be recorded: new deliveries could not be
			// either. A drain ends here; a server waits for the writer.
			if drain {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-d.nudgec:
			case <-poll.C:
			}
			continue
		}
		claimed, full, err := d.claim(ctx, now)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			readLog.failed("reading due jobs failed", "err", err)
		}
		for _, it := range claimed {
			select {
			case items <- it:
			case <-ctx.Done():
				d.release(claimed)
				return nil
			}
		}
		if full {
			continue // more are due
		}
		if drain {
			if d.idle() {
				// Nothing claimable, nothing in flight: any job still
				// pending is due later.
				return nil
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.nudgec:
		case <-poll.C:
		}
	}
}

// claim reads due jobs that are not in flight, claims them, and reads their
// customers' contacts. full reports that the read hit its limit.
func (d *Dispatcher) claim(ctx context.Context, now time.Time) ([]item, bool, error) {
	d.mu.Lock()
	busy, start := len(d.inflight), d.epoch
	d.mu.Unlock()
	limit := d.opts.Batch + busy
	jobs, err := d.store.DueJobs(ctx, now, limit)
	if err != nil {
		return nil, false, err
	}
	full := len(jobs) == limit
	d.mu.Lock()
	var out []item
	var ids []string
	batches := map[string]bool{}
	for _, j := range jobs {
		if d.inflight[j.ID] || d.released[j.ID] > start {
			continue
		}
		d.inflight[j.ID] = true
		out = append(out, item{job: j})
		if d.batches(j) {
			batches[j.Batch] = true
		}
	}
	d.mu.Unlock()
	// The rest of each batch: a batch due together goes out in one call
	// even when it is larger than one read.
	for key := range batches {
		more, err := d.store.DueBatch(ctx, key, now, d.opts.MaxBatch)
		if err != nil {
			d.mu.Lock()
			clear(d.released)
			d.mu.Unlock()
			d.release(out)
			return nil, false, err
		}
		d.mu.Lock()
		for _, j := range more {
			if d.inflight[j.ID] || d.released[j.ID] > start {
				continue
			}
			d.inflight[j.ID] = true
			out = append(out, item{job: j})
		}
		d.mu.Unlock()
	}
	// Every later claim reads after these releases' commits.
	d.mu.Lock()
	clear(d.released)
	d.mu.Unlock()
	if len(out) == 0 {
		return nil, false, nil
	}
	for _, it := range out {
		if it.job.CustomerID != "" {
			ids = append(ids, it.job.CustomerID)
		}
	}
	contacts, err := d.store.Contacts(ctx, ids)
	if err != nil {
		d.release(out)
		return nil, false, err
	}
	// A tag sync marks the tags the customer has when it is delivered:
	// deliveries in any order (retries, parallel workers) end in the
	// tags koi has now.
	var tagged []string
	for _, it := range out {
		if it.job.Kind == actions.TagSyncKind && it.job.CustomerID != "" {
			tagged = append(tagged, it.job.CustomerID)
		}
	}
	var tags map[string][]string
	if len(tagged) > 0 {
		if tags, err = d.store.CustomerTags(ctx, tagged); err != nil {
			d.release(out)
			return nil, false, err
		}
	}
	for i := range out {
		if c, ok := contacts[out[i].job.CustomerID]; ok {
			if out[i].job.Kind == actions.TagSyncKind {
				c.Tags = tags[c.CustomerID]
			}
			out[i].contact = &c
		}
	}
	return d.group(out), full, nil
}

// batches reports whether j may be delivered with the other jobs of its
// batch key: it has one and its kind's worker takes batches.
func (d *Dispatcher) batches(j *domain.Job) bool {
	if j.Batch == "" {
		return false
	}
	_, ok := d.workers[j.Kind].(actions.BatchWorker)
	return ok
}

// group merges the claimed jobs of each batch key into one item of at most
// MaxBatch jobs, keeping the order of their first job.
func (d *Dispatcher) group(items []item) []item {
	out := items[:0:0]
	at := map[string]int{} // batch key → index in out of its open item
	for _, it := range items {
		if !d.batches(it.job) {
			out = append(out, it)
			continue
		}
		k, ok := at[it.job.Batch]
		if ok && 1+len(out[k].rest) < d.opts.MaxBatch {
			out[k].rest = append(out[k].rest, it)
			continue
		}
		at[it.job.Batch] = len(out)
		out = append(out, it)
	}
	return out
}

func (d *Dispatcher) release(items []item) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, it := range items {
		delete(d.inflight, it.job.ID)
		for _, r := range it.rest {
			delete(d.inflight, r.job.ID)
		}
	}
}

func (d *Dispatcher) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inflight) == 0
}

// writer records outcomes in batches: whatever has arrived by the time
// the previous batch committed, so a busy dispatcher writes hundreds per
// transaction and an idle one writes each at once.
//
// A delivered job stays claimed until its outcome is recorded. When
// recording fails (a full disk, a locked file), the outcomes are kept and
// recorded again after a growing delay, and the fetcher claims no new work
// meanwhile (writeFailing): delivering again at once what was delivered,
// in a loop, is what a full disk must never cause. When results end (a
// drain, a shutdown), the outcomes still unrecorded get a few more tries;
// a job whose outcome is lost then is delivered once more by the next
// dispatcher, as after a crash.
func (d *Dispatcher) writer(results <-chan result) (int, error) {
	var errs error
	recorded := 0
	var pending []result // claimed jobs whose outcomes are not recorded yet
	backoff := time.Duration(0)
	failures := 0
	log := newThrottledLog(d.opts.Logger, 30*time.Second)
	for open := true; open || len(pending) > 0; {
		var batch []result
		if len(pending) == 0 {
			r, ok := <-results
			if !ok {
				break
			}
			batch = append(batch, r)
		} else if open {
			// Wait out the backoff, taking in what arrives meanwhile.
			timer := time.NewTimer(backoff)
		wait:
			for {
				select {
				case r, ok := <-results:
					if !ok {
						open = false
						break wait
					}
					batch = append(batch, r)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
		}
		// What else arrives within recordLinger joins the transaction:
		// with 16 deliveries in flight, recording whatever had arrived at
		// once committed a few outcomes at a time, an fsync each.
		linger := time.NewTimer(recordLinger)
	more:
		for open && len(batch) < 4096 {
			select {
			case r, ok := <-results:
				if !ok {
					open = false
					break more
				}
				batch = append(batch, r)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		// Claims released without an attempt need no record.
		var unattempted []result
		for _, r := range batch {
			if r.outcome == nil {
				unattempted = append(unattempted, r)
			} else {
				pending = append(pending, r)
			}
		}
		d.releaseResults(unattempted)
		if len(pending) == 0 {
			continue
		}
		outcomes := make([]domain.JobOutcome, len(pending))
		for i, r := range pending {
			outcomes[i] = *r.outcome
		}
		// Recording must outlive shutdown: an attempt made and not
		// recorded is made again.
		err := d.store.FinishJobs(context.Background(), d.opts.Now(), outcomes)
		if err == nil {
			if failures > 0 {
				log.recovered("recording delivery outcomes works again", "after_failures", failures)
			}
			recorded += len(pending)
			d.releaseResults(pending)
			pending, failures, backoff = nil, 0, 0
			d.writeFailing.Store(false)
			d.Nudge() // capacity freed
			continue
		}
		failures++
		d.writeFailing.Store(true)
		backoff = min(max(2*backoff, recordBackoff), d.opts.MaxBackoff, maxRecordBackoff)
		log.failed("recording delivery outcomes failed; the jobs stay claimed (not delivered again) and no new work is taken until it works",
			"jobs", len(pending), "failures", failures, "retry_in", backoff, "err", err)
		if !open && failures >= finalRecordTries {
			d.opts.Logger.Error("giving up recording delivery outcomes; those jobs will be delivered once more by the next dispatcher",
				"jobs", len(pending), "err", err)
			errs = errors.Join(errs, fmt.Errorf("record %d delivery outcomes: %w", len(pending), err))
			d.releaseResults(pending)
			pending = nil
		} else if !open {
			time.Sleep(backoff)
		}
	}
	return recorded, errs
}

// Recording outcomes that failed is tried again after recordBackoff, then
// twice as long each time, up to maxRecordBackoff (or Options.MaxBackoff
// when shorter). Once the dispatcher stops, finalRecordTries tries in all
// are made before the outcomes are given up.
//
// recordLinger is how long the writer waits for more outcomes after the
// first before it records them: a delivered job stays claimed meanwhile,
// so nothing is delivered twice, and an outcome is recorded a few
// milliseconds later at most.
const (
	recordLinger     = 5 * time.Millisecond
	recordBackoff    = 500 * time.Millisecond
	maxRecordBackoff = time.Minute
	finalRecordTries = 4
)

// releaseResults ends the claims of jobs whose outcomes are recorded (or
// who were not attempted), so the fetcher may claim them again when they
// come due.
func (d *Dispatcher) releaseResults(rs []result) {
	if len(rs) == 0 {
		return
	}
	d.mu.Lock()
	d.epoch++
	for _, r := range rs {
		delete(d.inflight, r.id)
		d.released[r.id] = d.epoch
	}
	d.mu.Unlock()
}

// attempt makes one delivery attempt of a job, or of the jobs of one
// batch in one call, and decides what becomes of each: one result per
// item, in order.
func (d *Dispatcher) attempt(ctx context.Context, items []item) []result {
	res := make([]result, len(items))
	now := d.opts.Now()
	outcome := func(i int, state domain.JobState, runAt time.Time, msg string) {
		j := items[i].job
		res[i].outcome = &domain.JobOutcome{ID: j.ID, State: state, Attempts: j.Attempts, RunAt: runAt, LastError: msg}
	}
	var send []int // indexes of the items to deliver
	for i, it := range items {
		j := it.job
		res[i].id = j.ID
		switch {
		case j.CustomerID != "" && it.contact == nil:
			outcome(i, domain.JobCancelled, now, "the customer was deleted")
		case j.Channel != "" && it.contact.OptedOut(j.Channel):
			outcome(i, domain.JobSkipped, now, "consent: the customer opted out of "+j.Channel)
		case d.workers[j.Kind] == nil:
			outcome(i, domain.JobDead, now, fmt.Sprintf("no worker for jobs of kind %q in this koi binary", j.Kind))
		default:
			send = append(send, i)
		}
	}
	if len(send) == 0 {
		return res
	}
	first := items[send[0]].job
	group := first.Channel
	if group == "" {
		group = first.Kind
	}
	if until, ok := d.pausedUntil(group, now); ok {
		// The receiver throttled this channel: wait, without an attempt.
		for _, i := range send {
			outcome(i, domain.JobPending, until, "waiting for "+group+"'s rate limit to pass: "+items[i].job.LastError)
		}
		return res
	}
	if l := d.limiters[group]; l != nil {
		if err := l.Wait(ctx); err != nil {
			return res // shutting down: unattempted, still pending
		}
	}
	dels := make([]*actions.Delivery, len(send))
	for k, i := range send {
		j := items[i].job
		dels[k] = &actions.Delivery{JobID: j.ID, Kind: j.Kind, Channel: j.Channel, Key: j.Key, Attempt: j.Attempts + 1,
			FireID: j.FireID, Playbook: j.Playbook, Rule: j.Rule, CustomerID: j.CustomerID, Payload: j.Payload}
		if c := items[i].contact; c != nil {
			dels[k].Contact = *c
		}
	}
	// An attempt under way when shutdown begins is let finish, within its
	// timeout: cut short, it might have reached the receiver anyway.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.Timeout)
	errs := deliver(actx, d.workers[first.Kind], dels)
	cancel()
	now = d.opts.Now()
	for k, i := range send {
		j, err := items[i].job, errs[k]
		j.Attempts++
		switch {
		case err == nil && dels[k].Receipt != "":
			outcome(i, domain.JobTaskCreated, now, "")
			res[i].outcome.Receipt = dels[k].Receipt
		case err == nil:
			outcome(i, domain.JobDone, now, "")
		case actions.IsPermanent(err):
			outcome(i, domain.JobDead, now, err.Error())
		case actions.IsThrottled(err):
			// A rate limit is no failure of the job: no attempt is used,
			// and the whole channel waits it out.
			j.Attempts--
			until := now.Add(min(max(actions.RetryDelay(err), d.opts.Backoff), d.opts.MaxBackoff))
			d.pause(group, until)
			outcome(i, domain.JobPending, until, err.Error())
		case j.Attempts >= j.MaxAttempts:
			outcome(i, domain.JobDead, now, fmt.Sprintf("gave up after %d attempts: %v", j.Attempts, err))
		default:
			// A receiver's Retry-After is honoured up to MaxBackoff: one that
			// says "in a year" must not park the job for a year.
			wait := max(d.backoff(j.Attempts), min(actions.RetryDelay(err), d.opts.MaxBackoff))
			outcome(i, domain.JobPending, now.Add(wait), err.Error())
		}
	}
	return res
}

// pause holds group's jobs until t.
func (d *Dispatcher) pause(group string, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.After(d.paused[group]) {
		d.paused[group] = t
	}
}

// pausedUntil says whether group is paused at now, and until when.
func (d *Dispatcher) pausedUntil(group string, now time.Time) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.paused[group]
	if ok && !now.Before(t) {
		delete(d.paused, group)
		return time.Time{}, false
	}
	return t, ok
}

// deliver calls the worker, in one call for several deliveries when it is
// a BatchWorker, turning a panic into an error for each: one bad plugin
// must not stop every delivery.
func deliver(ctx context.Context, w actions.Worker, dels []*actions.Delivery) (errs []error) {
	defer func() {
		if p := recover(); p != nil {
			errs = make([]error, len(dels))
			for i := range errs {
				errs[i] = fmt.Errorf("worker panicked: %v", p)
			}
		}
	}()
	if bw, ok := w.(actions.BatchWorker); ok && len(dels) > 1 {
		errs = bw.DeliverBatch(ctx, dels)
		if len(errs) != len(dels) {
			panic(fmt.Sprintf("DeliverBatch returned %d errors for %d deliveries", len(errs), len(dels)))
		}
		return errs
	}
	errs = make([]error, len(dels))
	for i, del := range dels {
		errs[i] = w.Deliver(ctx, del)
	}
	return errs
}

// backoff is the delay after the n-th failed attempt: Backoff doubled
// n-1 times, at most MaxBackoff, then jittered down by up to half, so
// that jobs failing together do not retry together.
func (d *Dispatcher) backoff(n int) time.Duration {
	wait := d.opts.MaxBackoff
	if n-1 < 32 {
		wait = min(d.opts.Backoff<<(n-1), d.opts.MaxBackoff)
		if wait <= 0 { // overflow
			wait = d.opts.MaxBackoff
		}
	}
	return wait/2 + rand.N(wait/2+1)
}

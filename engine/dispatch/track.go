package dispatch

import (
	"context"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// maxTracked bounds the tracked jobs of one channel read per poll; the
// oldest go first, the rest wait for the next poll.
const maxTracked = 50_000

// track polls the trackers (channels whose deliveries complete later: a
// WeCom task waits for the guide) until ctx ends, each at its own pace,
// and records what became of the jobs they hold.
func (d *Dispatcher) track(ctx context.Context) {
	every := time.Duration(0)
	for _, t := range d.opts.Trackers {
		if e := t.TrackEvery(); e > 0 && (every == 0 || e < every) {
			every = e
		}
	}
	if every <= 0 {
		every = time.Minute
	}
	next := map[string]time.Time{}
	log := newThrottledLog(d.opts.Logger, 30*time.Second)
	tick := time.NewTicker(min(every, d.opts.Poll))
	defer tick.Stop()
	for {
		now := d.opts.Now()
		for name, t := range d.opts.Trackers {
			if now.Before(next[name]) {
				continue
			}
			next[name] = now.Add(t.TrackEvery())
			if err := d.TrackOnce(ctx, name); err != nil && ctx.Err() == nil {
				log.failed("tracking deliveries failed; trying again at the next poll", "channel", name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TrackOnce polls one channel's tracker for the jobs it holds and records
// what became of them: sent, failed, still waiting (perhaps reminded), or
// handed over again. Jobs an operator cancelled, and those whose customer
// opted out of the channel or was deleted, are stopped. The server calls
// it on the tracker's schedule; tests call it directly.
func (d *Dispatcher) TrackOnce(ctx context.Context, channel string) error {
	t := d.opts.Trackers[channel]
	if t == nil {
		return nil
	}
	jobs, err := d.store.TrackedJobs(ctx, channel, maxTracked)
	if err != nil || len(jobs) == 0 {
		return err
	}
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.CustomerID)
	}
	contacts, err := d.store.Contacts(ctx, ids)
	if err != nil {
		return err
	}
	tracked := make([]*actions.Tracked, len(jobs))
	for i, j := range jobs {
		c, ok := contacts[j.CustomerID]
		tr := &actions.Tracked{JobID: j.ID, Receipt: j.Receipt, To: c, Since: j.TrackedAt, Reminders: j.Reminders, RemindedAt: j.RemindedAt, Cancel: j.Cancel}
		switch {
		case tr.Cancel != "":
		case !ok:
			tr.Cancel = "the customer was deleted"
		case c.OptedOut(channel):
			tr.Cancel = "consent: the customer opted out of " + channel
		}
		tracked[i] = tr
	}
	now := d.opts.Now()
	// Polling a task's results is a few calls per task; give it the time
	// of a handful of attempts.
	tctx, cancel := context.WithTimeout(ctx, 6*d.opts.Timeout)
	results, trackErr := t.Track(tctx, now, tracked)
	cancel()
	if results == nil {
		return trackErr
	}
	now = d.opts.Now()
	var outcomes []domain.TrackOutcome
	var changed []*domain.Job // the job of each outcome
	requeued := false
	for i, r := range results {
		if i >= len(jobs) {
			break
		}
		j := jobs[i]
		o := domain.TrackOutcome{ID: j.ID, State: domain.JobState(r.State), SentAt: r.At, Reminded: r.Reminded, Note: r.Note}
		switch r.State {
		case actions.StateTaskCreated:
			if !r.Reminded {
				continue // nothing changed
			}
		case actions.StateRequeue:
			o.State = domain.JobPending
			requeued = true
		case actions.StateSent, actions.StateNotFriend, actions.StateReceivedOther, actions.StateUnsent:
			if r.State == actions.StateSent && o.SentAt.IsZero() {
				o.SentAt = now
			}
		default:
			d.opts.Logger.Warn("a tracker reported an unknown state; the job stays tracked", "channel", channel, "job", j.ID, "state", r.State)
			continue
		}
		outcomes = append(outcomes, o)
		changed = append(changed, j)
	}
	if err := d.store.FinishTracked(context.WithoutCancel(ctx), now, outcomes); err != nil {
		return err
	}
	if d.opts.Delivered != nil {
		for i, o := range outcomes {
			if o.State.Final() {
				d.opts.Delivered(changed[i], o.State, now.Sub(changed[i].TrackedAt))
			}
		}
	}
	if requeued {
		d.Nudge()
	}
	return trackErr
}

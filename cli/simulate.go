package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/scheduler"
	"github.com/koihq/koi/rules"
)

// response is how simulated customers respond to koi: within the
// attribution window after a fire, a customer orders with probability
// Treated when the fire messaged them or gave them a coupon, and with
// Holdout when they were held out (or the fire did neither). Besides,
// every customer orders on any day with probability Background, which
// keeps the pond's RFM moving and adds to both groups alike.
type response struct {
	Treated, Holdout, Background float64
	Seed                         uint64
}

// simResult counts what a simulation did.
type simResult struct {
	Days, Runs, Approved, Fires, Treated, Holdout, Orders, Redeemed int
	// ByPlaybook counts the scheduled runs of each playbook; Triggered the
	// runs of event-triggered rules.
	ByPlaybook map[string]int
	Triggered  int
	// Unscheduled lists the playbooks without a schedule, which the
	// simulation never runs (as koi serve would not).
	Unscheduled []string
}

// simFire is a fire of a simulated run, with what it gave the customer.
type simFire struct {
	id        int64
	customer  string
	playbook  string
	holdout   bool
	contacted bool
	coupon    string
	couponEnd time.Time
	minSpend  int64
}

// simulate runs the loaded playbooks from start for days days as koi serve
// would: each scheduled playbook through the scheduler koi serve uses, at
// its own cron times in its own timezone, driven by a simulated clock, and
// the event-triggered rules on the simulated orders as they arrive
// (within the hour), and journeys' due steps at each stop (an hour at
// most). Customers respond to what koi did. Runs the blast
// guard holds are approved, as an operator watching would.
func simulate(ctx context.Context, a *app, start time.Time, days int, resp response, progress io.Writer) (simResult, error) {
	res := simResult{ByPlaybook: map[string]int{}}
	r := rand.New(rand.NewPCG(resp.Seed, 0x5eed))
	ids, err := customerIDs(ctx, a)
	if err != nil {
		return res, err
	}
	windows := map[string]time.Duration{}
	for _, pb := range a.engine.Playbooks() {
		windows[pb.Name] = pb.Attribution
		if pb.Cron == nil && !onlyEventRules(pb) {
			res.Unscheduled = append(res.Unscheduled, pb.Name)
		}
	}
	end := start.AddDate(0, 0, days)
	clock := clockwork.NewFakeClockAt(start)
	runner := &simRunner{engine: a.engine}
	sched, err := scheduler.New(runner, scheduler.Options{Clock: clock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	// The scheduler holds the playbooks' schedules as koi serve's does; the
	// simulation steps its clock from one due moment to the next and has
	// the scheduler run what is due, rather than waiting on its timers:
	// gocron's goroutines could see a fake clock move before they had set
	// a timer, and then never run the job.
	if err := sched.Sync(a.engine.Playbooks()); err != nil {
		return res, err
	}
	defer func() { _ = sched.Shutdown() }()
	triggers := engine.TriggerOptions{Now: clock.Now, MaxAge: a.cfg.triggerMaxAge}
	// The first pass starts the trigger cursor after the pond's history:
	// rules on events see only the simulated ones.
	if _, err := a.engine.ProcessTriggers(ctx, triggers); err != nil {
		return res, fmt.Errorf("event-triggered rules: %w", err)
	}
	var pending []domain.Event // orders and redemptions still to happen
	seq := 0
	// respond has customers respond to a run's fires.
	respond := func(run *engine.Run, now time.Time) error {
		if run.Status == engine.RunHeld {
			approved, err := a.engine.Approve(ctx, run.ID, "simulator", now)
			if err != nil {
				return fmt.Errorf("approve run %d of %s: %w", run.ID, run.Playbook, err)
			}
			run = approved
			res.Approved++
		}
		window := windows[run.Playbook]
		fires, err := simFires(ctx, a, run)
		if err != nil {
			return err
		}
		for _, f := range fires {
			res.Fires++
			p := resp.Holdout
			if f.holdout {
				res.Holdout++
			} else if f.contacted || f.coupon != "" {
				res.Treated++
				p = resp.Treated
			}
			if r.Float64() >= p {
				continue
			}
			// The order falls within the window, and within the coupon's
			// validity when there is one, so it can use it.
			last := run.At.Add(window)
			if f.coupon != "" && f.couponEnd.Before(last) {
				last = f.couponEnd
			}
			at := run.At.Add(time.Duration(r.Int64N(int64(last.Sub(run.At)-time.Minute))) + time.Minute)
			seq++
			o := simOrder(r, fmt.Sprintf("sim-%d", seq), f.customer, at, f.minSpend)
			pending = append(pending, o)
			if f.coupon != "" && !f.holdout {
				pending = append(pending, domain.Event{ID: "coupon_redeem:" + f.coupon, CustomerID: f.customer, Type: domain.EventCouponRedeem,
					At: at, Code: f.coupon, OrderID: o.ID})
			}
		}
		return nil
	}
	for {
		now := clock.Now()
		// A new day: anyone may order at any minute of it.
		if day := start.AddDate(0, 0, res.Days); !now.Before(day) && day.Before(end) {
			for _, id := range ids {
				if r.Float64() < resp.Background {
					seq++
					pending = append(pending, simOrder(r, fmt.Sprintf("sim-bg-%d", seq), id, day.Add(time.Duration(r.IntN(24*60))*time.Minute), 0))
				}
			}
			res.Days++
			if progress != nil {
				fmt.Fprintf(progress, "\rsimulated %s (day %d of %d)", day.Format("2006-01-02"), res.Days, days)
			}
		}
		// The next stop: a scheduled run, the next hour (when the orders
		// of the hour reach the event-triggered rules), the next day, or
		// the end.
		stop := earliest(now.Truncate(time.Hour).Add(time.Hour), start.AddDate(0, 0, res.Days), end)
		next, due := sched.NextDue(now)
		switch {
		case next.IsZero() || next.After(stop):
			due = nil
		default:
			stop = next
		}
		// What happened by the stop happens, and reaches the rules on events.
		var ready []domain.Event
		ready, pending = eventsBy(pending, stop)
		if err := addSimEvents(ctx, a, ready); err != nil {
			return res, err
		}
		res.Orders += countType(ready, domain.EventOrder)
		res.Redeemed += countType(ready, domain.EventCouponRedeem)
		if !stop.Before(end) {
			break
		}
		triggers.Now = func() time.Time { return stop }
		truns, err := a.engine.ProcessTriggers(ctx, triggers)
		if err != nil {
			return res, fmt.Errorf("event-triggered rules at %s: %w", stop.Format(time.RFC3339), err)
		}
		for _, run := range truns {
			res.Runs++
			res.Triggered++
			if err := respond(run, stop); err != nil {
				return res, err
			}
		}
		// Journeys' due steps: koi serve takes them every minute; each
		// stop (an hour at most) is close enough for responses by the day.
		for _, run := range a.engine.ProcessJourneys(ctx, stop) {
			res.Runs++
			res.ByPlaybook[run.Playbook]++
			if err := respond(run, stop); err != nil {
				return res, err
			}
		}
		clock.Advance(stop.Sub(now))
		// Runs due together go in parallel in koi serve; engine runs take
		// turns anyway, so here they go one after another, in name order,
		// and customers respond to them in that order: a seed gives one
		// outcome.
		for _, name := range due {
			sched.RunScheduled(name)
		}
		done := runner.take()
		slices.SortFunc(done, func(a, b simRun) int { return strings.Compare(a.playbook, b.playbook) })
		for _, sr := range done {
			if sr.err != nil {
				return res, fmt.Errorf("run %s at %s: %w", sr.playbook, stop.Format(time.RFC3339), sr.err)
			}
			for _, run := range sr.runs {
				res.Runs++
				res.ByPlaybook[run.Playbook]++
				if err := respond(run, stop); err != nil {
					return res, err
				}
			}
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	return res, nil
}

// simRunner runs what the scheduler asks, through the engine, and keeps
// each run's outcome for the simulation.
type simRunner struct {
	engine  *engine.Engine
	mu      sync.Mutex
	results []simRun
}

type simRun struct {
	playbook string
	runs     []*engine.Run
	err      error
}

func (s *simRunner) Run(ctx context.Context, req engine.RunRequest) ([]*engine.Run, error) {
	runs, err := s.engine.Run(ctx, req)
	s.mu.Lock()
	s.results = append(s.results, simRun{playbook: strings.Join(req.Playbooks, ","), runs: runs, err: err})
	s.mu.Unlock()
	return runs, err
}

// take returns the outcomes collected since the last call.
func (s *simRunner) take() []simRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.results
	s.results = nil
	return out
}

func (s *simRunner) LastRunAt(ctx context.Context, playbook string) (time.Time, bool, error) {
	return s.engine.LastRunAt(ctx, playbook)
}

// onlyEventRules reports whether every rule of pb is event-triggered: such
// a playbook needs no schedule.
func onlyEventRules(pb *rules.Playbook) bool {
	for _, r := range pb.Rules {
		if r.On == "" {
			return false
		}
	}
	return true
}

// eventsBy splits evs into those at or before t, in time order, and the rest.
func eventsBy(evs []domain.Event, t time.Time) (ready, rest []domain.Event) {
	for _, e := range evs {
		if e.At.After(t) {
			rest = append(rest, e)
		} else {
			ready = append(ready, e)
		}
	}
	slices.SortStableFunc(ready, func(a, b domain.Event) int { return a.At.Compare(b.At) })
	return ready, rest
}

// earliest returns the earliest of ts.
func earliest(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.Before(m) {
			m = t
		}
	}
	return m
}

// simOrder is an order of 80 to 400 yuan, at least minSpend plus 20.
func simOrder(r *rand.Rand, id, customer string, at time.Time, minSpendFen int64) domain.Event {
	amount := int64(8000 + r.IntN(32000))
	amount = max(amount, minSpendFen+2000)
	return domain.Event{ID: id, CustomerID: customer, Type: domain.EventOrder, At: at, AmountFen: amount}
}

func countType(evs []domain.Event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func addSimEvents(ctx context.Context, a *app, evs []domain.Event) error {
	for len(evs) > 0 {
		n := min(len(evs), 5000)
		res, err := a.engine.AddEvents(ctx, evs[:n])
		if err != nil {
			return fmt.Errorf("simulated events: %w", err)
		}
		for i, err := range res.ItemErrs {
			return fmt.Errorf("simulated event %s: %w", evs[i].ID, err)
		}
		evs = evs[n:]
	}
	return nil
}

func customerIDs(ctx context.Context, a *app) ([]string, error) {
	rows, err := a.db.SQL().QueryContext(ctx, `SELECT id FROM customers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// simFires reads a run's fires with their coupon and whether they
// messaged the customer.
func simFires(ctx context.Context, a *app, run *engine.Run) ([]simFire, error) {
	if run.FirstFireID == 0 {
		return nil, nil
	}
	rows, err := a.db.SQL().QueryContext(ctx, `
		SELECT f.id, f.customer_id, f.playbook, f.status,
		       EXISTS (SELECT 1 FROM jobs j WHERE j.customer_id = f.customer_id AND j.fire_id = f.id AND j.channel != ''),
		       coalesce(c.code, ''), coalesce(c.expires_at, 0), coalesce(c.min_spend_fen, 0)
		FROM fires f LEFT JOIN coupons c ON c.fire_id = f.id
		WHERE f.id BETWEEN ? AND ? AND f.run_id = ? ORDER BY f.id`, run.FirstFireID, run.LastFireID, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read fires of run %d: %w", run.ID, err)
	}
	defer rows.Close()
	var out []simFire
	for rows.Next() {
		// A fire that issued two coupons comes twice; the first will do.
		var f simFire
		var status string
		var expires int64
		if err := rows.Scan(&f.id, &f.customer, &f.playbook, &status, &f.contacted, &f.coupon, &expires, &f.minSpend); err != nil {
			return nil, err
		}
		f.holdout = status == domain.FireHoldout
		f.couponEnd = time.UnixMilli(expires)
		if n := len(out); n > 0 && out[n-1].id == f.id {
			continue
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

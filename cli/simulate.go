package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/koihq/koi/engine"
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
}

// simFire is a fire of a simulated day, with what it gave the customer.
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

// simulate runs the loaded playbooks once a day from start for days days,
// at 10:00 in loc, and has customers respond to what koi did. Runs the
// blast guard holds are approved, as an operator watching would.
// Event-triggered rules are not simulated: no events arrive one by one.
func simulate(ctx context.Context, a *app, start time.Time, days int, resp response, progress io.Writer) (simResult, error) {
	var res simResult
	r := rand.New(rand.NewPCG(resp.Seed, 0x5eed))
	ids, err := customerIDs(ctx, a)
	if err != nil {
		return res, err
	}
	windows := map[string]time.Duration{}
	for _, pb := range a.engine.Playbooks() {
		windows[pb.Name] = pb.Attribution
	}
	var pending []engine.Event // orders and redemptions due on later days
	seq := 0
	for d := range days {
		day := time.Date(start.Year(), start.Month(), start.Day()+d, 10, 0, 0, 0, start.Location())
		// The day's events: scheduled responses that are due, and the
		// background orders of the past day.
		var due, later []engine.Event
		for _, e := range pending {
			if e.At.After(day) {
				later = append(later, e)
			} else {
				due = append(due, e)
			}
		}
		pending = later
		for _, id := range ids {
			if r.Float64() < resp.Background {
				seq++
				due = append(due, simOrder(r, fmt.Sprintf("sim-bg-%d", seq), id, day.Add(-time.Duration(r.IntN(24*60))*time.Minute), 0))
			}
		}
		if err := addSimEvents(ctx, a, due); err != nil {
			return res, err
		}
		res.Orders += countType(due, engine.EventOrder)
		res.Redeemed += countType(due, engine.EventCouponRedeem)
		runs, err := a.engine.Run(ctx, engine.RunRequest{At: day, Trigger: engine.TriggerSchedule})
		if err != nil {
			return res, fmt.Errorf("day %d: %w", d+1, err)
		}
		for _, run := range runs {
			res.Runs++
			if run.Status == engine.RunHeld {
				if run, err = a.engine.Approve(ctx, run.ID, "simulator", time.Now()); err != nil {
					return res, fmt.Errorf("day %d: approve run %d: %w", d+1, run.ID, err)
				}
				res.Approved++
			}
			window := windows[run.Playbook]
			fires, err := simFires(ctx, a, run)
			if err != nil {
				return res, err
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
				// The order falls within the window, and within the
				// coupon's validity when there is one, so it can use it.
				end := day.Add(window)
				if f.coupon != "" && f.couponEnd.Before(end) {
					end = f.couponEnd
				}
				at := day.Add(time.Duration(r.Int64N(int64(end.Sub(day)-time.Minute))) + time.Minute)
				seq++
				o := simOrder(r, fmt.Sprintf("sim-%d", seq), f.customer, at, f.minSpend)
				pending = append(pending, o)
				if f.coupon != "" && !f.holdout {
					pending = append(pending, engine.Event{ID: "coupon_redeem:" + f.coupon, CustomerID: f.customer, Type: engine.EventCouponRedeem,
						At: at, Code: f.coupon, OrderID: o.ID})
				}
			}
		}
		res.Days++
		if progress != nil {
			fmt.Fprintf(progress, "\rsimulated %s (day %d of %d)", day.Format("2006-01-02"), d+1, days)
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	// Responses due by the end of the last day happen; later ones would be
	// in the future.
	end := time.Date(start.Year(), start.Month(), start.Day()+days, 0, 0, 0, 0, start.Location())
	var rest []engine.Event
	for _, e := range pending {
		if !e.At.After(end) {
			rest = append(rest, e)
		}
	}
	res.Orders += countType(rest, engine.EventOrder)
	res.Redeemed += countType(rest, engine.EventCouponRedeem)
	return res, addSimEvents(ctx, a, rest)
}

// simOrder is an order of 80 to 400 yuan, at least minSpend plus 20.
func simOrder(r *rand.Rand, id, customer string, at time.Time, minSpendFen int64) engine.Event {
	amount := int64(8000 + r.IntN(32000))
	amount = max(amount, minSpendFen+2000)
	return engine.Event{ID: id, CustomerID: customer, Type: engine.EventOrder, At: at, AmountFen: amount}
}

func countType(evs []engine.Event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func addSimEvents(ctx context.Context, a *app, evs []engine.Event) error {
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
		f.holdout = status == engine.FireHoldout
		f.couponEnd = time.UnixMilli(expires)
		if n := len(out); n > 0 && out[n-1].id == f.id {
			continue
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

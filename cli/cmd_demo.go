package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

func newDemoCmd(g *globals) *cobra.Command {
	var (
		customers int
		seed      uint64
		anchor    string
		days      int
		replace   bool
		resp      response
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Fill an empty database with a deterministic synthetic pond (members, tiers, tags, two years of orders)",
		Long: `Fill an empty database with a deterministic synthetic pond: members, tiers,
tags, two years of orders with refunds, referrals, shares and visits.

A database that holds anything is left alone, with an error, unless --replace
is given: then a new database is built beside it and renamed over it, so the
old one stays whole until the new one is complete. No other koi process may
have it open meanwhile.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if customers <= 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--customers must be positive")}
			}
			cfg, err := loadConfig(g.config)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			at, err := parseAt(anchor, cfg.location)
			if err != nil {
				return err
			}
			if days < 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--simulate-days must be 0 or more")}
			}
			for name, p := range map[string]float64{"--treated-conversion": resp.Treated, "--holdout-conversion": resp.Holdout, "--background": resp.Background} {
				if p < 0 || p > 100 {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s: want a percentage from 0 to 100, got %v", name, p)}
				}
			}
			// The simulation ends at the pond's present: the histories end
			// where it starts, at a midnight, so that it covers whole days.
			start := at.AddDate(0, 0, -days)
			if days > 0 {
				start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, start.Location())
			}
			before, err := databaseContents(cmd.Context(), g.db)
			if err != nil {
				return err
			}
			if !before.Empty() && !replace {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s already holds a pond (%s); koi demo fills only an empty database, so nothing was changed: "+
					"--replace deletes everything in it and starts over, --db names another file", g.db, describeContents(before))}
			}
			gen := demo.Generator{Seed: seed, Anchor: start, Identities: true}
			var seeded seededPond
			fill := func(db *sqlite.DB) error {
				var err error
				seeded, err = seedDemo(cmd.Context(), db, gen, customers, newBar(customers, "generating pond", cmd.ErrOrStderr()))
				return err
			}
			if before.Empty() {
				db, err := sqlite.Open(cmd.Context(), g.db)
				if err != nil {
					return err
				}
				err = fill(db)
				db.Close()
				if err != nil {
					return err
				}
			} else if err := sqlite.Replace(cmd.Context(), g.db, fill); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo pond in %s: %s (seed %d, anchored at %s)\n",
				g.db, seeded, seed, start.Format("2006-01-02"))
			if !before.Empty() {
				fmt.Fprintf(cmd.OutOrStdout(), "it replaced the database's previous contents (%s)\n", describeContents(before))
			}
			if days == 0 {
				return nil
			}
			return runSimulation(cmd, g, start, days, response{Treated: resp.Treated / 100, Holdout: resp.Holdout / 100,
				Background: resp.Background / 100, Seed: seed})
		},
	}
	cmd.Flags().IntVar(&customers, "customers", 10000, "number of `customers`")
	cmd.Flags().BoolVar(&replace, "replace", false, "when the database is not empty, delete everything in it (customers, events, fires, coupons, runs, jobs) and start over")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random `seed`; the same seed gives the same pond")
	cmd.Flags().StringVar(&anchor, "at", "", "the pond's present (default: today); histories, and a simulation, end here")
	cmd.Flags().IntVar(&days, "simulate-days", 0, "then run the playbooks for this many `days`, each on its schedule as koi serve would (simulated clock), with customers responding (see koi report)")
	cmd.Flags().Float64Var(&resp.Treated, "treated-conversion", 15, "simulation: `percent` of customers who order within the attribution window after koi messaged them or gave them a coupon")
	cmd.Flags().Float64Var(&resp.Holdout, "holdout-conversion", 5, "simulation: `percent` of held-out customers (and of fires that neither message nor give a coupon) who order within the window")
	cmd.Flags().Float64Var(&resp.Background, "background", 0.1, "simulation: `percent` chance that any customer orders on any day regardless")
	return cmd
}

// runSimulation runs the playbooks over the simulated days, then delivers
// what the runs enqueued (quietly: the log channel would print thousands
// of lines) and says how to see the outcome.
func runSimulation(cmd *cobra.Command, g *globals, start time.Time, days int, resp response) error {
	ctx := cmd.Context()
	// Each event-triggered run would log a line: hundreds a simulated day.
	a, err := openApp(ctx, g, 0, func(c *engine.Config) { c.Logger = slog.New(slog.DiscardHandler) })
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.loadPlaybooks("", cmd.ErrOrStderr(), "nothing was simulated"); err != nil {
		return err
	}
	res, err := simulate(ctx, a, start, days, resp, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if _, err := drainOutbox(ctx, a, io.Discard); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "simulated %d days: %d runs (%d held and approved by the simulator), %d fires (%d treated with a message or coupon, %d holdout), %d orders, %d coupons redeemed\n",
		res.Days, res.Runs, res.Approved, res.Fires, res.Treated, res.Holdout, res.Orders, res.Redeemed)
	var per []string
	for _, name := range slices.Sorted(maps.Keys(res.ByPlaybook)) {
		per = append(per, fmt.Sprintf("%s %d", name, res.ByPlaybook[name]))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "scheduled runs, each at its playbook's cron times: %s; %d event-triggered runs\n", strings.Join(per, ", "), res.Triggered)
	if len(res.Unscheduled) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "not run (no schedule, as in koi serve): %s\n", strings.Join(res.Unscheduled, ", "))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "customers ordered within the attribution window with %.1f%% when treated, %.1f%% when held out, plus %.2f%% a day for anyone: see koi report\n",
		100*resp.Treated, 100*resp.Holdout, 100*resp.Background)
	return nil
}

// databaseContents counts what the database at path holds; a missing file
// holds nothing.
func databaseContents(ctx context.Context, path string) (sqlite.Contents, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return sqlite.Contents{}, nil
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return sqlite.Contents{}, err
	}
	defer db.Close()
	return db.Contents(ctx)
}

// describeContents says what a database holds, for a person deciding about it.
func describeContents(c sqlite.Contents) string {
	return fmt.Sprintf("%s, %s, %s, %s, %s", plural(c.Customers, "customer"), plural(c.Events, "event"),
		plural(c.Fires, "fire"), plural(c.Runs, "run"), plural(c.Jobs, "outbox job"))
}

// seededPond is what seedDemo wrote.
type seededPond struct {
	customers, events int
	// merges counts the mini-program sign-ups merged into their
	// customers (a generator with identities only).
	merges int
}

// String says it for a person.
func (p seededPond) String() string {
	s := fmt.Sprintf("%d customers, %d events", p.customers, p.events)
	if p.merges > 0 {
		s += fmt.Sprintf("; %d mini-program sign-ups merged into their customers by phone (koi merges)", p.merges)
	}
	return s
}

// seedDemo writes n demo customers, generated on all cores while the
// previous batch is written; with identities, then the mini-program's
// sign-ups and the phone sync that merges them into their customers.
func seedDemo(ctx context.Context, db *sqlite.DB, d demo.Generator, n int, bar *progressbar.ProgressBar) (seededPond, error) {
	total := 0
	now := time.Now()
	err := d.Generate(ctx, n, 5000, runtime.GOMAXPROCS(0), func(b demo.Batch) error {
		if err := db.UpsertCustomers(ctx, b.Customers, now); err != nil {
			return err
		}
		if _, bad, err := db.InsertEvents(ctx, b.Events); err != nil {
			return err
		} else if len(bad) > 0 {
			return fmt.Errorf("demo generated %d events of unknown customers", len(bad))
		}
		total += len(b.Events)
		_ = bar.Add(b.Hi - b.Lo)
		return nil
	})
	if err != nil {
		return seededPond{}, err
	}
	out := seededPond{customers: n, events: total}
	if d.Identities && n > 0 {
		if out.merges, err = seedSignUps(ctx, db, d.SignUps(n, max(1, n/1000)), now); err != nil {
			return seededPond{}, err
		}
		out.events += max(1, n/1000)
	}
	// Leave the event id index settled, as a database at rest has it: a
	// merge cut short by closing would be redone by the next process that
	// opens the pond, in the background of whatever it does.
	if err := db.CompactEventIDs(ctx); err != nil {
		return seededPond{}, err
	}
	_ = bar.Finish()
	return out, nil
}

// seedSignUps stores the mini-program's sign-ups with their orders, then
// its phone sync, which merges each into the customer with that phone.
func seedSignUps(ctx context.Context, db *sqlite.DB, ups []demo.SignUp, now time.Time) (int, error) {
	var cs, links []domain.Customer
	var evs []domain.Event
	for _, u := range ups {
		cs, links, evs = append(cs, u.Customer), append(links, u.Link), append(evs, u.Events...)
	}
	if _, err := db.StoreCustomers(ctx, domain.CustomerBatch{Customers: cs, Now: now, Source: "demo mini-program sign-ups"}); err != nil {
		return 0, err
	}
	if _, bad, err := db.InsertEvents(ctx, evs); err != nil || len(bad) > 0 {
		return 0, fmt.Errorf("demo sign-ups' orders: %v %v", err, bad)
	}
	res, err := db.StoreCustomers(ctx, domain.CustomerBatch{Customers: links, Now: now, Source: "demo mini-program phone sync"})
	if err != nil {
		return 0, err
	}
	return len(res.Merges), nil
}

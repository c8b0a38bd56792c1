package main

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/sqlite"
)

func newDemoCmd(g *globals) *cobra.Command {
	var (
		customers int
		seed      uint64
		anchor    string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Fill the database with a deterministic synthetic pond (members, tiers, tags, two years of orders)",
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
			db, err := sqlite.Open(cmd.Context(), g.db)
			if err != nil {
				return err
			}
			defer db.Close()
			bar := newBar(customers, "generating pond", cmd.ErrOrStderr())
			n, events, err := seedDemo(cmd, db, demoPond{seed: seed, anchor: at}, customers, bar)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo pond in %s: %d customers, %d events (seed %d, anchored at %s)\n",
				g.db, n, events, seed, at.Format("2006-01-02"))
			return nil
		},
	}
	cmd.Flags().IntVar(&customers, "customers", 10000, "number of `customers`")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random `seed`; the same seed gives the same pond")
	cmd.Flags().StringVar(&anchor, "at", "", "the pond's present (default: today); histories end here")
	return cmd
}

// seedDemo writes n demo customers in batches. Ids are deterministic, so
// running it twice upserts the same pond instead of doubling it.
func seedDemo(cmd *cobra.Command, db *sqlite.DB, d demoPond, n int, bar *progressbar.ProgressBar) (int, int, error) {
	const batch = 2000
	d.anchor = d.anchor.Truncate(24 * time.Hour)
	total := 0
	now := time.Now()
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		cs := make([]engine.Customer, 0, hi-lo)
		var evs []engine.Event
		for i := lo; i < hi; i++ {
			c, e := d.customer(i)
			cs = append(cs, c)
			evs = append(evs, e...)
		}
		if err := db.UpsertCustomers(cmd.Context(), cs, now); err != nil {
			return 0, 0, err
		}
		if _, bad, err := db.InsertEvents(cmd.Context(), evs); err != nil {
			return 0, 0, err
		} else if len(bad) > 0 {
			return 0, 0, fmt.Errorf("demo generated %d events of unknown customers", len(bad))
		}
		total += len(evs)
		_ = bar.Add(hi - lo)
	}
	_ = bar.Finish()
	return n, total, nil
}

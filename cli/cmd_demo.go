package cli

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine/demo"
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
			n, events, err := seedDemo(cmd.Context(), db, demo.Generator{Seed: seed, Anchor: at}, customers, bar)
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

// seedDemo writes n demo customers, generated on all cores while the
// previous batch is written. Ids are deterministic, so running it twice
// upserts the same pond instead of doubling it.
func seedDemo(ctx context.Context, db *sqlite.DB, d demo.Generator, n int, bar *progressbar.ProgressBar) (int, int, error) {
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
		return 0, 0, err
	}
	// Leave the event id index settled, as a database at rest has it: a
	// merge cut short by closing would be redone by the next process that
	// opens the pond, in the background of whatever it does.
	if err := db.CompactEventIDs(ctx); err != nil {
		return 0, 0, err
	}
	_ = bar.Finish()
	return n, total, nil
}

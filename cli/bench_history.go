package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

// benchHistoryDays and benchHistoryPerCustomer shape the fire history koi
// bench gives a copy of the pond: what a year of daily runs of the bench
// set leaves behind, at least ten fire rows per customer.
const (
	benchHistoryDays        = 365
	benchHistoryPerCustomer = 10
)

// addBenchHistory writes a year of fire history of the bench set's rules
// into the database at path: for every customer, benchHistoryPerCustomer
// to +2 fires of random rules on random days before the bench's present
// (a once rule at most once), numbered per rule in time order as runs
// number them. Rows go in with multi-row inserts, a transaction per
// chunk, straight into fires_archive, where fires older than a day are:
// the history is the bench's setting, not what it measures. It returns
// the rows written.
func addBenchHistory(ctx context.Context, path, playbooks string, customers int, seed uint64, progress io.Writer) (int, error) {
	pbs, err := rules.LoadPaths([]string{playbooks}, rules.Options{Env: profile.ExprEnv(), Registry: builtin.Registry(), Tiers: defaultTiers, Sample: profile.SampleValues()})
	if err != nil {
		return 0, fmt.Errorf("bench set: %w", err)
	}
	type benchRule struct {
		playbook, rule, hash string
		once                 bool
	}
	var all []benchRule
	for _, pb := range pbs {
		for _, r := range pb.Rules {
			all = append(all, benchRule{pb.Name, r.ID, pb.Hash, r.Once})
		}
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	bar := newBar(customers, "writing a year of fire history", progress)
	type fire struct {
		rule int
		day  int
	}
	const perStatement = 200
	var (
		rows  int
		args  []any
		stmt  strings.Builder
		fires []fire
		seq   = make([]int, len(all))
	)
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		n := len(args) / 8
		stmt.Reset()
		stmt.WriteString(`INSERT INTO fires_archive (run_id, playbook, rule, customer_id, seq, status, at, hash) VALUES `)
		for k := range n {
			if k > 0 {
				stmt.WriteByte(',')
			}
			stmt.WriteString("(?,?,?,?,?,?,?,?)")
		}
		if _, err := tx.ExecContext(ctx, stmt.String(), args...); err != nil {
			return fmt.Errorf("insert fire history: %w", err)
		}
		args = args[:0]
		return nil
	}
	anchor := benchAnchor.Truncate(24 * time.Hour).Add(10 * time.Hour) // the bench set runs at 10:00
	for i := range customers {
		r := rand.New(rand.NewPCG(seed^0x5eed, uint64(i)+1))
		id := fmt.Sprintf("c%07d", i)
		fires = fires[:0]
		clear(seq) // fires of each rule so far, for this customer
		for len(fires) < benchHistoryPerCustomer+r.IntN(3) {
			k := r.IntN(len(all))
			if all[k].once && seq[k] > 0 {
				continue
			}
			seq[k]++
			fires = append(fires, fire{rule: k, day: 1 + r.IntN(benchHistoryDays)})
		}
		clear(seq)
		// Oldest first, so each rule's fires are numbered in time order.
		slices.SortFunc(fires, func(a, b fire) int { return b.day - a.day })
		for _, f := range fires {
			seq[f.rule]++
			br := all[f.rule]
			at := anchor.AddDate(0, 0, -f.day).UnixMilli()
			args = append(args, 0, br.playbook, br.rule, id, seq[f.rule], "fired", at, br.hash)
			rows++
			if len(args) == perStatement*8 {
				if err := flush(); err != nil {
					return 0, err
				}
			}
		}
		if (i+1)%50_000 == 0 {
			if err := flush(); err != nil {
				return 0, err
			}
			if err := tx.Commit(); err != nil {
				return 0, err
			}
			if tx, err = db.SQL().BeginTx(ctx, nil); err != nil {
				return 0, err
			}
		}
		_ = bar.Add(1)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	_ = bar.Finish()
	if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	return rows, nil
}

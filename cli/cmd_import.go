package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/engine/wire"
)

func newImportCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "import customers|events FILE",
		Short: "Import customers or events from JSONL or CSV; idempotent by id",
		Long: `Import customers or events from a JSONL file (one object a line) or a CSV file
with a header row. Importing the same file twice changes nothing. A bad line is
reported with its line number and field; the good lines are kept.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, path := args[0], args[1]
			if kind != "customers" && kind != "events" {
				return &exitError{code: exitUsage, err: fmt.Errorf("import what? want customers or events, got %q", kind)}
			}
			if format == "" {
				format = formatOf(path)
			}
			if format != "jsonl" && format != "csv" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--format: want jsonl or csv, got %q", format)}
			}
			cfg, err := loadConfig(g.config)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			f, err := os.Open(path)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			defer f.Close()
			db, err := sqlite.Open(cmd.Context(), g.db)
			if err != nil {
				return err
			}
			defer db.Close()
			im := &importer{db: db, cmd: cmd, path: path, kind: kind, loc: cfg.location, tiers: cfg.Tiers, unsubscribe: cfg.Consent.UnsubscribeEvent,
				tagJobs: engine.TagJobsFor(cfg.channelTraits(g.registry()).tagSync, cfg.Outbox.MaxAttempts)}
			var size int64 = -1
			if st, err := f.Stat(); err == nil {
				size = st.Size()
			}
			bar := newBar(int(size), "importing "+kind, cmd.ErrOrStderr())
			pr := progressbar.NewReader(f, bar)
			if err := im.run(&pr, format); err != nil {
				return err
			}
			_ = bar.Finish()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "imported %d of %d %s from %s", im.good, im.lines, kind, path)
			if im.dups > 0 {
				fmt.Fprintf(out, " (%d already present, unchanged)", im.dups)
			}
			if im.merges > 0 {
				fmt.Fprintf(out, "; %s (listed on stderr, see koi merges)", plural(im.merges, "merge"))
			}
			fmt.Fprintln(out)
			if im.bad > 0 {
				fmt.Fprintf(out, "%s skipped (listed on stderr); the good lines were kept\n", plural(im.bad, "bad line"))
				return &exitError{code: exitPartial}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "jsonl or csv (default: from the file extension)")
	return cmd
}

func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv"
	default:
		return "jsonl"
	}
}

// importer reads lines, validates them and writes them in batches.
type importer struct {
	db   *sqlite.DB
	cmd  *cobra.Command
	path string
	kind string
	loc  *time.Location
	// tiers are the configured tiers, lowest first.
	tiers []string
	// tagJobs enqueue the tag sync of the customers' changes of tags
	// (nil when no channel syncs tags): `koi serve` delivers them.
	tagJobs func(key, customerID string, before, after []string, force bool) []domain.NewJob
	// unsubscribe is the event type that opts a customer out.
	unsubscribe string

	lines, good, bad, dups, merges int
	customers                      []domain.Customer
	customerLines                  []int
	events                         []domain.Event
	eventLines                     []int
}

const importBatch = 2000

func (im *importer) reject(line int, err error) {
	im.bad++
	fmt.Fprintf(im.cmd.ErrOrStderr(), "%s:%d: %v\n", im.path, line, err)
}

func (im *importer) run(r io.Reader, format string) error {
	var err error
	if format == "csv" {
		err = im.readCSV(r)
	} else {
		err = im.readJSONL(r)
	}
	if err != nil {
		return err
	}
	return im.flush()
}

func (im *importer) readJSONL(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		im.lines++
		if im.kind == "customers" {
			var rec wire.Customer
			if err := wire.DecodeStrict([]byte(line), &rec); err != nil {
				im.reject(n, err)
				continue
			}
			im.addCustomer(n, &rec)
		} else {
			var rec wire.Event
			if err := wire.DecodeStrict([]byte(line), &rec); err != nil {
				im.reject(n, err)
				continue
			}
			im.addEvent(n, &rec)
		}
		if err := im.maybeFlush(); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: line %d: %w", im.path, n+1, err)
	}
	return nil
}

func (im *importer) readCSV(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s:1: cannot read the CSV header: %v", im.path, err)}
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		im.lines++
		if err != nil {
			im.reject(line, fmt.Errorf("invalid CSV: %v", err))
			continue
		}
		if len(row) != len(header) {
			im.reject(line, fmt.Errorf("has %d fields, the header has %d", len(row), len(header)))
			continue
		}
		if im.kind == "customers" {
			rec, err := wire.CustomerFromCSV(header, row)
			if err != nil {
				im.reject(line, err)
				continue
			}
			im.addCustomer(line, &rec)
		} else {
			rec, err := wire.EventFromCSV(header, row)
			if err != nil {
				im.reject(line, err)
				continue
			}
			im.addEvent(line, &rec)
		}
		if err := im.maybeFlush(); err != nil {
			return err
		}
	}
}

func (im *importer) addCustomer(line int, rec *wire.Customer) {
	c, err := rec.ToCustomer(im.loc, im.tiers)
	if err != nil {
		im.reject(line, err)
		return
	}
	im.customers = append(im.customers, c)
	im.customerLines = append(im.customerLines, line)
}

func (im *importer) addEvent(line int, rec *wire.Event) {
	e, err := rec.ToEvent(im.loc)
	if err != nil {
		im.reject(line, err)
		return
	}
	im.events = append(im.events, e)
	im.eventLines = append(im.eventLines, line)
}

func (im *importer) maybeFlush() error {
	if len(im.customers)+len(im.events) >= importBatch {
		return im.flush()
	}
	return nil
}

func (im *importer) flush() error {
	ctx := im.cmd.Context()
	if len(im.customers) > 0 {
		if err := im.putCustomers(ctx); err != nil {
			return err
		}
		im.customers, im.customerLines = im.customers[:0], im.customerLines[:0]
	}
	if len(im.events) > 0 {
		// Events naming their customer by an identity are resolved; one
		// nobody has is its line's error.
		unknown, err := engine.ResolveEventCustomers(ctx, im.db, im.events)
		if err != nil {
			return err
		}
		evs, lines := im.events[:0:0], im.eventLines[:0:0]
		for i := range im.events {
			if err, bad := unknown[i]; bad {
				im.reject(im.eventLines[i], err)
				continue
			}
			evs, lines = append(evs, im.events[i]), append(lines, im.eventLines[i])
		}
		profile.MarkOptOuts(evs, im.unsubscribe)
		inserted, bad, err := im.db.InsertEvents(ctx, evs)
		if err != nil {
			return err
		}
		for i, e := range bad {
			im.reject(lines[i], e)
		}
		im.good += len(evs) - len(bad)
		im.dups += len(evs) - len(bad) - inserted
		im.events, im.eventLines = im.events[:0], im.eventLines[:0]
	}
	return nil
}

// putCustomers writes the batch's customers in one transaction. A record
// naming an identity another customer has merges the two (DESIGN §11):
// each merge is listed on stderr. A line the store refuses (a batch is
// all or nothing) has the batch written one record at a time, so that
// only that line is rejected.
func (im *importer) putCustomers(ctx context.Context) error {
	res, err := im.db.StoreCustomers(ctx, im.batch(im.customers))
	if err == nil {
		im.good += len(im.customers)
		im.noteMerges(res.Merges)
		return nil
	}
	if !lineFault(err) {
		return err // the database's (busy, full, read-only), not a line's
	}
	for i := range im.customers {
		res, err := im.db.StoreCustomers(ctx, im.batch(im.customers[i:i+1]))
		switch {
		case err == nil:
			im.good++
			im.noteMerges(res.Merges)
		case lineFault(err):
			im.reject(im.customerLines[i], err)
		default:
			return err
		}
	}
	return nil
}

// lineFault reports whether the store refused a record for what it says
// (invalid, or in conflict with what is stored), rather than failing.
func lineFault(err error) bool {
	var de *domain.Error
	return errors.As(err, &de) && (de.Code == domain.EInvalid || de.Code == domain.EConflict)
}

// batch is a store of customers from this file.
func (im *importer) batch(cs []domain.Customer) domain.CustomerBatch {
	return domain.CustomerBatch{Customers: cs, Now: time.Now(), Tiers: im.tiers, Source: "import " + filepath.Base(im.path), TagJobs: im.tagJobs}
}

// noteMerges lists merges on stderr, a line each.
func (im *importer) noteMerges(ms []domain.Merge) {
	for _, m := range ms {
		im.merges++
		fmt.Fprintf(im.cmd.ErrOrStderr(), "merged customer %s into %s (both have %s %s)\n", m.Merged, m.Survivor, m.Identity.Kind, m.Identity.Value)
	}
}

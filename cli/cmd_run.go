package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/policy"
)

type runReport struct {
	At        time.Time      `json:"at"`
	DryRun    bool           `json:"dry_run"`
	Matched   int            `json:"matched"`
	Fired     int            `json:"fired"`
	Playbooks []*playbookRun `json:"playbooks"`
	// Deliveries counts the outbox's delivery attempts after the run, by
	// the state they left their job in.
	Deliveries map[domain.JobState]int `json:"deliveries,omitempty"`
}

type playbookRun struct {
	Name string `json:"name"`
	// Journey marks a journey's pass: its audience is the customers who
	// entered, its rules are its steps.
	Journey  bool                   `json:"journey,omitempty"`
	RunID    int64                  `json:"run_id,omitempty"`
	Status   string                 `json:"status"`
	Hash     string                 `json:"hash"`
	Audience int                    `json:"audience"`
	Limit    int                    `json:"limit"`
	Matched  int                    `json:"matched"`
	Fired    int                    `json:"fired"`
	Error    string                 `json:"error,omitempty"`
	Rules    []*evaluate.RuleCounts `json:"rules"`
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		dir       string
		at        string
		dryRun    bool
		asJSON    bool
		batchSize int
	)
	cmd := &cobra.Command{
		Use:   "run [NAME...]",
		Short: "Evaluate playbooks now (or --at a time) and fire their actions",
		RunE: func(cmd *cobra.Command, names []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := openApp(ctx, g, batchSize)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.loadPlaybooks(dir, cmd.ErrOrStderr(), "nothing was run"); err != nil {
				return err
			}
			when, err := parseAt(at, a.cfg.location)
			if err != nil {
				return err
			}
			if !dryRun {
				if err := a.engine.Sweep(ctx, time.Now()); err != nil {
					return err
				}
			}
			runs, err := a.engine.Run(ctx, engine.RunRequest{Playbooks: names, At: when, DryRun: dryRun})
			rep := newRunReport(when, dryRun, runs, a.engine)
			if err == nil && !dryRun {
				// Send what the run enqueued, unless a server is running
				// and dispatching: then it sends.
				if rep.Deliveries, err = drainOutbox(ctx, a, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				_ = enc.Encode(rep)
			} else {
				printReport(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			for _, r := range runs {
				if r.Status == engine.RunHeld {
					return &exitError{code: exitHeld, err: fmt.Errorf("playbook %s was held by the blast guard", r.Playbook)}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "playbooks", "", "playbooks `dir` (default: from config, examples/playbooks)")
	cmd.Flags().StringVar(&at, "at", "", "evaluate at this `time` (RFC 3339 or YYYY-MM-DD) instead of now")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "compute what would fire and write nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&batchSize, "batch-size", 1000, "fires written per transaction")
	return cmd
}

func newRunReport(at time.Time, dryRun bool, runs []*engine.Run, e *engine.Engine) *runReport {
	rep := &runReport{At: at, DryRun: dryRun, Playbooks: []*playbookRun{}}
	for _, r := range runs {
		rep.Matched += r.Matched
		rep.Fired += r.Fired
		pb, _ := e.Playbook(r.Playbook)
		rep.Playbooks = append(rep.Playbooks, &playbookRun{
			Name: r.Playbook, Journey: pb != nil && pb.Journey != nil, RunID: r.ID, Status: r.Status, Hash: r.Hash, Audience: r.Audience,
			Limit: r.Limit, Matched: r.Matched, Fired: r.Fired, Error: r.Error, Rules: r.Rules,
		})
	}
	return rep
}

// drainOutbox delivers the jobs due now and counts the outcomes.
func drainOutbox(ctx context.Context, a *app, errOut io.Writer) (map[domain.JobState]int, error) {
	var mu sync.Mutex
	counts := map[domain.JobState]int{}
	d, err := a.dispatcher(a.cfg.Log.logger(errOut), func(_ *domain.Job, s domain.JobState, _ time.Duration) {
		mu.Lock()
		counts[s]++
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	if _, err := d.Drain(ctx); err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("deliver: %w", err)}
	}
	return counts, nil
}

func printReport(w io.Writer, rep *runReport) {
	verb := "fired"
	if rep.DryRun {
		verb = "would fire"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PLAYBOOK/RULE\tMATCHED\tFIRED\tSUPPRESSED\tDEFERRED\n")
	for _, p := range rep.Playbooks {
		if p.Journey {
			fmt.Fprintf(tw, "%s (journey, %s, entered %d, limit %d)\t%d\t%d\t\t\n", p.Name, p.Status, p.Audience, p.Limit, p.Matched, p.Fired)
		} else {
			fmt.Fprintf(tw, "%s (%s, audience %d, limit %d)\t%d\t%d\t\t\n", p.Name, p.Status, p.Audience, p.Limit, p.Matched, p.Fired)
		}
		for _, c := range p.Rules {
			sup := ""
			for _, reason := range c.Reasons() {
				sup += fmt.Sprintf("%s=%d ", reason, c.Suppressed[reason])
			}
			if causes := c.GroupCauses(); len(causes) > 0 {
				sup += "(benefit group: " + strings.Join(causes, ", ") + ") "
			}
			if c.Errors > 0 {
				sup += fmt.Sprintf("errors=%d (%s) ", c.Errors, c.FirstError)
			}
			if c.Late > 0 {
				sup += fmt.Sprintf("late=%d", c.Late) // a journey's steps taken late
			}
			deferred := ""
			for _, reason := range []string{policy.ReasonQuietHours, policy.ReasonCap} {
				if n := c.Deferred[reason]; n > 0 {
					deferred += fmt.Sprintf("%s=%d ", reason, n)
				}
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\n", c.Rule, c.Matched, c.Fired, sup, deferred)
		}
		if p.Error != "" {
			fmt.Fprintf(tw, "  ! %s\t\t\t\t\n", p.Error)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%s: %d matched, %d %s at %s\n", map[bool]string{true: "dry run", false: "done"}[rep.DryRun], rep.Matched, rep.Fired, verb, rep.At.Format(time.RFC3339))
	if len(rep.Deliveries) > 0 {
		var parts []string
		for _, s := range []domain.JobState{domain.JobDone, domain.JobTaskCreated, domain.JobPending, domain.JobDead, domain.JobSkipped, domain.JobCancelled} {
			if n := rep.Deliveries[s]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", map[domain.JobState]string{domain.JobDone: "delivered", domain.JobPending: "to retry",
					domain.JobTaskCreated: "WeCom tasks created, waiting for the guides (koi serve tracks them)",
					domain.JobDead:        "dead", domain.JobSkipped: "skipped (consent)", domain.JobCancelled: "cancelled"}[s], n))
			}
		}
		fmt.Fprintf(w, "outbox: %s (koi jobs lists them)\n", strings.Join(parts, ", "))
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
)

// newDecideCmd is `koi approve RUN` or `koi reject RUN`: a decision about a
// run the blast guard held.
func newDecideCmd(g *globals, verb string) *cobra.Command {
	var (
		dir    string
		by     string
		asJSON bool
	)
	short := map[string]string{
		"approve": "Release a run held by the blast guard, exactly as it was computed",
		"reject":  "Discard a run held by the blast guard: nothing of it fires",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " RUN",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("run id %q: want a positive number (koi run prints it; GET /api/v1/runs?status=held lists them)", args[0])}
			}
			if by == "" {
				by = os.Getenv("USER")
			}
			if by == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--by: say who decides; approvals are recorded")}
			}
			ctx := cmd.Context()
			a, err := openApp(ctx, g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			if verb == "approve" {
				if err := a.loadPlaybooks(dir, cmd.ErrOrStderr(), "nothing was released"); err != nil {
					return err
				}
			}
			decide := a.engine.Reject
			if verb == "approve" {
				decide = a.engine.Approve
			}
			run, err := decide(ctx, id, by, time.Now())
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			var deliveries map[engine.JobState]int
			if verb == "approve" {
				if deliveries, err = drainOutbox(ctx, a, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(run)
			}
			printDecision(cmd.OutOrStdout(), run, deliveries)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who decides, as recorded (default: $USER)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	if verb == "approve" {
		cmd.Flags().StringVar(&dir, "playbooks", "", "playbooks `dir` (default: from config, examples/playbooks); the held version must still be there")
	}
	return cmd
}

func printDecision(w io.Writer, r *engine.Run, deliveries map[engine.JobState]int) {
	rep := report(r.At, false, []*engine.Run{r})
	rep.Deliveries = deliveries
	printReport(w, rep)
	fmt.Fprintf(w, "run %d %s by %s\n", r.ID, map[string]string{engine.RunDone: "approved", engine.RunRejected: "rejected"}[r.Status], r.DecidedBy)
}

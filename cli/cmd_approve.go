package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
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
				by = decider()
			}
			ctx := cmd.Context()
			a, err := openApp(ctx, g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := loadHeldPlaybook(ctx, a, id, dir, cmd.ErrOrStderr()); err != nil {
				if verb == "approve" {
					return err
				}
				// A rejection needs the playbook only for a journey,
				// whose held steps it passes: without it they stay due.
				fmt.Fprintf(cmd.ErrOrStderr(), "koi: %v (a held journey's steps stay due)\n", err)
			}
			decide := a.engine.Reject
			if verb == "approve" {
				decide = a.engine.Approve
			}
			run, err := decide(ctx, id, by, time.Now())
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			var deliveries map[domain.JobState]int
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
			printDecision(cmd.OutOrStdout(), a.engine, run, deliveries)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who decides, as recorded (default: $USER, else the login name, else \"koi-cli\")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	if verb == "approve" {
		cmd.Flags().StringVar(&dir, "playbooks", "", "playbooks `dir` to find the held playbook in (default: the file the run evaluated); the held version must still be there")
	}
	return cmd
}

// decider is who decides when --by is not given: $USER, else the login
// name of the process's user, else "koi-cli". A decision is recorded with
// a name; a cron job or a container without $USER still gets one.
func decider() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "koi-cli"
}

// loadHeldPlaybook loads the playbook a held run needs for its approval:
// from dir when given, else from the file the run evaluated, which the run
// records. It says which flag to give when neither has it.
func loadHeldPlaybook(ctx context.Context, a *app, id int64, dir string, errOut io.Writer) error {
	run, err := a.engine.GetRun(ctx, id)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	from := dir
	switch {
	case dir != "":
	case run.File != "":
		if _, err := os.Stat(run.File); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("run %d of %s was computed from %s, which is not there now (%v): give --playbooks DIR with the version it held (%s); nothing was released",
				id, run.Playbook, run.File, err, run.Hash)}
		}
		from = run.File
	default:
		// A run recorded before runs kept their file.
		from = a.cfg.Playbooks
	}
	if err := a.loadPlaybooks(from, errOut, "nothing was released"); err != nil {
		return err
	}
	if _, ok := a.engine.Playbook(run.Playbook); !ok {
		return &exitError{code: exitFailed, err: fmt.Errorf("run %d is of playbook %s, which is not in %s: give --playbooks DIR with the directory the run used; nothing was released", id, run.Playbook, from)}
	}
	return nil
}

func printDecision(w io.Writer, e *engine.Engine, r *engine.Run, deliveries map[domain.JobState]int) {
	rep := newRunReport(r.At, false, []*engine.Run{r}, e)
	rep.Deliveries = deliveries
	printReport(w, rep)
	fmt.Fprintf(w, "run %d %s by %s\n", r.ID, map[string]string{engine.RunDone: "approved", engine.RunRejected: "rejected"}[r.Status], r.DecidedBy)
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/spf13/cobra"
)

func newJobsCmd(g *globals) *cobra.Command {
	var (
		f      domain.JobFilter
		state  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List the outbox's jobs (messages, webhooks), newest first; retry or cancel one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd.Context(), g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			f.State = domain.JobState(state)
			if f.State != "" && !slices.Contains(domain.JobStates, f.State) {
				return &exitError{code: exitUsage, err: fmt.Errorf("--state: %q is not one of %s", state, domain.JobStateNames())}
			}
			jobs, err := a.db.ListJobs(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				if jobs == nil {
					jobs = []*domain.Job{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(jobs)
			}
			printJobs(cmd.OutOrStdout(), jobs)
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only jobs in this `state`: "+domain.JobStateNames())
	cmd.Flags().StringVar(&f.Playbook, "playbook", "", "only this playbook's jobs")
	cmd.Flags().StringVar(&f.CustomerID, "customer", "", "only this customer's jobs")
	cmd.Flags().StringVar(&f.Kind, "kind", "", "only jobs of this kind (message, webhook, …)")
	cmd.Flags().Int64Var(&f.FireID, "fire", 0, "only this fire's jobs (what happened to its messages: done, task_created, sent, not_friend, dead, skipped for consent, …)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(jobActionCmd(g, "retry", "Make a finished job (dead, cancelled, skipped, unsent, done, …) pending again, due now, with its attempts reset; not a WeCom task still waiting for its guide",
		func(a *app, cmd *cobra.Command, id int64) (*domain.Job, error) {
			return a.db.RetryJob(cmd.Context(), id, time.Now())
		}),
		jobActionCmd(g, "cancel", "Cancel a pending job: it will not be delivered; a WeCom task waiting for its guide is stopped at the server's next poll (then unsent)",
			func(a *app, cmd *cobra.Command, id int64) (*domain.Job, error) {
				return a.db.CancelJob(cmd.Context(), id, time.Now())
			}))
	return cmd
}

func jobActionCmd(g *globals, verb, short string, do func(*app, *cobra.Command, int64) (*domain.Job, error)) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("job id %q: want a positive number (koi jobs lists them)", args[0])}
			}
			a, err := openApp(cmd.Context(), g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			j, err := do(a, cmd, id)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if j.Cancel != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "job %d is %s; koi serve stops its WeCom task at its next poll (%s)\n", j.ID, j.State, j.Cancel)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %d is %s\n", j.ID, j.State)
			return nil
		},
	}
}

func printJobs(w io.Writer, jobs []*domain.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tKIND\tCHANNEL\tCUSTOMER\tPLAYBOOK/RULE\tATTEMPTS\tDUE\tLAST ERROR")
	for _, j := range jobs {
		due := ""
		switch {
		case j.State == domain.JobPending:
			due = j.RunAt.Local().Format("01-02 15:04:05")
		case j.State == domain.JobTaskCreated && j.Cancel != "":
			due = "stopping"
		case j.State == domain.JobSent:
			due = "sent " + j.SentAt.Local().Format("01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s/%s\t%d/%d\t%s\t%s\n", j.ID, j.State, j.Kind, j.Channel, j.CustomerID, j.Playbook, j.Rule,
			j.Attempts, j.MaxAttempts, due, j.LastError)
	}
	tw.Flush()
	if len(jobs) == 0 {
		fmt.Fprintln(w, "no jobs")
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/report"
)

func newReportCmd(g *globals) *cobra.Command {
	var (
		dir    string
		at     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "report [PLAYBOOK]",
		Short: "Per rule: conversion and revenue of treated customers against the holdout, with uplift and its significance",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, err := openApp(ctx, g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.loadPlaybooks(dir, cmd.ErrOrStderr(), "no report"); err != nil {
				return err
			}
			now, err := parseAt(at, a.cfg.location)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			reps, err := a.engine.Report(ctx, name, now)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"at": now, "rules": reps})
			}
			printRuleReports(cmd.OutOrStdout(), reps)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "playbooks", "", "playbooks `dir` (default: from config, examples/playbooks)")
	cmd.Flags().StringVar(&at, "at", "", "report as of this `time` (RFC 3339 or YYYY-MM-DD) instead of now")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRuleReports(w io.Writer, reps []*report.RuleReport) {
	shown := 0
	defer func() {
		if shown == 0 {
			fmt.Fprintln(w, "nothing fired yet: no rule or journey step has customers to compare")
		}
	}()
	for _, r := range reps {
		if r.Treated.Customers == 0 && (r.Holdout == nil || r.Holdout.Customers == 0) && r.Open == 0 {
			continue // never fired: nothing to say
		}
		shown++
		fmt.Fprintf(w, "%s/%s — attribution window %s", r.Playbook, r.Rule, r.Window)
		if r.Open > 0 {
			what := "fires"
			if r.Rule == engine.JourneyWhole {
				what = "entries" // the journey as a whole counts entries
			}
			fmt.Fprintf(w, ", %d %s still inside it (not counted yet)", r.Open, what)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  GROUP\tCUSTOMERS\tCONVERTED\tCONVERSION\tREVENUE/CUSTOMER\tCOUPON REVENUE\n")
		row := func(name string, g report.Group) {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%.1f%%\t¥%.2f\t¥%.2f\n", name, g.Customers, g.Converted, 100*g.Conversion, g.RevenuePerCustomer, g.CouponRevenue)
		}
		row("treated", r.Treated)
		for _, v := range r.Variants {
			row("  variant "+v.Variant, v.Group)
		}
		if r.Holdout != nil {
			row("holdout", *r.Holdout)
		}
		tw.Flush()
		if r.Uplift != nil {
			printComparison(w, "uplift", *r.Uplift)
		}
		for _, v := range r.Variants {
			if v.VsHoldout != nil {
				printComparison(w, v.Variant+" vs holdout", *v.VsHoldout)
			}
		}
		for _, c := range r.VariantPairs {
			printComparison(w, c.A+" vs "+c.B, c)
		}
		if r.Note != "" {
			fmt.Fprintf(w, "  %s\n", r.Note)
		}
		if m := r.Messages; m != nil {
			fmt.Fprintf(w, "  messages: %d planned, %d reached the customer (contacts)%s\n", m.Planned, m.Contacts, messageStates(m.ByState))
		}
		fmt.Fprintln(w)
	}
}

// messageStates lists the states of messages that are not contacts, in
// the order a message passes them: "; 15 task_created (waiting for the
// guide)".
func messageStates(by map[string]int) string {
	s := ""
	for _, st := range append(slices.Clone(domain.JobStates), "unknown") {
		n := by[string(st)]
		if n == 0 || st.Reached() {
			continue
		}
		s += fmt.Sprintf("; %d %s", n, st)
		if st == domain.JobTaskCreated {
			s += " (a WeCom task waiting for the guide)"
		}
	}
	return s
}

func printComparison(w io.Writer, label string, c report.Comparison) {
	if !c.Enough {
		fmt.Fprintf(w, "  %s: %s\n", label, c.Verdict)
		return
	}
	fmt.Fprintf(w, "  %s: %+.1f pp conversion (95%% CI %+.1f to %+.1f), %+.2f yuan per customer, p = %.3g: %s\n",
		label, 100*c.Uplift, 100*c.CILow, 100*c.CIHigh, c.RevenueUplift, c.PValue, c.Verdict)
}

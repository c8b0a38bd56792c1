package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

func newPreviewCmd(g *globals) *cobra.Command {
	var (
		dir, at string
		sample  int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "preview PLAYBOOK",
		Short: "Show what a run of a playbook would do, writing nothing: audience, per-rule counts, overlap, a sample with the values used",
		Long: `Show what a scheduled run of PLAYBOOK would do at --at (default now),
computed by the engine over the whole pond and written nowhere: the audience,
per rule the customers matched, how many would fire and how many would be
suppressed and why, how many customers two rules both match, and a sample of
customers with the values their conditions read.

For a journey: who would enter on its schedule now, and each step due by
--at as a pass would decide it (exit_when, the step's when, holdout, the
contact policy).

Exit codes: 0 done; 1 the playbook is invalid or unknown; 3 the run would be
held by the blast guard.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, when, err := openEvaluator(cmd.Context(), g, dir, at, cmd.ErrOrStderr(), "nothing was previewed")
			if err != nil {
				return err
			}
			defer a.Close()
			if sample == 0 {
				sample = -1
			}
			p, err := a.engine.Preview(cmd.Context(), engine.PreviewRequest{Playbook: args[0], At: when, Sample: sample})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(p)
			} else {
				printPreview(out, p, a.cfg.location)
			}
			if p.Held {
				return &exitError{code: exitHeld}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "playbooks", "", "playbooks `directory` (default: the config's)")
	cmd.Flags().StringVar(&at, "at", "", "the moment to preview: RFC 3339 or a date (default now)")
	cmd.Flags().IntVar(&sample, "sample", engine.DefaultPreviewSample, "customers to show with their values (0 for none)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the preview as JSON")
	return cmd
}

func printPreview(out io.Writer, p *engine.Preview, loc *time.Location) {
	when := p.At.In(loc).Format("2006-01-02 15:04 MST")
	head := "RULE"
	if j := p.Journey; j != nil {
		head = "STEP (DUE)"
		fmt.Fprintf(out, "journey %s at %s — %d would enter, due steps would fire %d (limit %d)\n", p.Playbook, when, j.Entering, p.WouldFire, p.Limit)
		if len(j.EnteringSample) > 0 {
			fmt.Fprintf(out, "entering, for example: %s\n", strings.Join(j.EnteringSample, ", "))
		}
		if j.Waiting {
			fmt.Fprintln(out, "WAITING: a pass of this journey is held by the blast guard; no step is taken until it is approved or rejected")
		}
	} else {
		fmt.Fprintf(out, "%s at %s — audience %d, would fire %d (limit %d)\n", p.Playbook, when, p.Audience, p.WouldFire, p.Limit)
	}
	if p.Held {
		fmt.Fprintf(out, "HELD: %d fires exceed limits.max_fires %d; the run would wait for approval\n", p.WouldFire, p.Limit)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, head+"\tMATCHED\tWOULD FIRE\tSUPPRESSED")
	for _, r := range p.Rules {
		var sup []string
		for _, reason := range r.Reasons() {
			sup = append(sup, fmt.Sprintf("%s %d", reason, r.Suppressed[reason]))
		}
		if causes := r.GroupCauses(); len(causes) > 0 {
			sup = append(sup, "of which by the benefit group's "+strings.Join(causes, ", "))
		}
		if r.Errors > 0 {
			sup = append(sup, fmt.Sprintf("errors %d (%s)", r.Errors, r.FirstError))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Rule, r.Matched, r.Fired, strings.Join(sup, ", "))
	}
	tw.Flush()
	for _, r := range p.EventRules {
		fmt.Fprintf(out, "(%s runs on events: a scheduled run does not evaluate it)\n", r)
	}
	if len(p.Overlap) > 0 {
		fmt.Fprintln(out, "\nOVERLAP (customers both rules matched)")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		for _, o := range p.Overlap {
			fmt.Fprintf(tw, "%s + %s\t%d\n", o.Rules[0], o.Rules[1], o.Customers)
		}
		tw.Flush()
	}
	if len(p.Tasks) > 0 {
		fmt.Fprintln(out, "\nTASKS PER GUIDE (each one confirmation in WeCom)")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHANNEL\tGUIDE\tTASKS\tMESSAGES")
		for _, t := range p.Tasks {
			guide := t.Guide
			if guide == "" {
				guide = "(no guide: the channel's sender)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", t.Channel, guide, t.Tasks, t.Customers)
		}
		tw.Flush()
	}
	if len(p.Sample) > 0 {
		fmt.Fprintln(out, "\nSAMPLE")
		for _, s := range p.Sample {
			var outs []string
			for _, o := range s.Outcomes {
				outs = append(outs, o.Rule+": "+outcomeText(o))
			}
			fmt.Fprintf(out, "%s  %s\n", s.CustomerID, strings.Join(outs, "; "))
			fmt.Fprintf(out, "    %s\n", valuesText(s.Values))
		}
	}
}

// outcomeText says what a rule did for a customer in a word or two.
func outcomeText(o evaluate.CustomerOutcome) string {
	switch o.Outcome {
	case evaluate.OutcomeFired:
		s := "fires"
		if o.Variant != "" {
			s += " (variant " + o.Variant + ")"
		}
		if o.Reason != "" {
			s += ", deferred by " + o.Reason
		}
		return s
	case evaluate.OutcomeHoldout:
		return "holdout"
	case evaluate.OutcomeError:
		return "error: " + o.Error
	}
	if o.By != "" {
		return "suppressed by " + o.Reason + " (" + o.By + " fired)"
	}
	return "suppressed by " + o.Reason
}

// valuesText lists term values, sorted by term.
func valuesText(values map[string]any) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " = " + rules.FormatValue(values[k])
	}
	return strings.Join(parts, ", ")
}

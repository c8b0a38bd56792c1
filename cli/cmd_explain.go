package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/rules"
)

func newExplainCmd(g *globals) *cobra.Command {
	var (
		dir, at, customer, rule string
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "explain --customer ID --rule PLAYBOOK/RULE",
		Short: "Show why a rule would or would not fire for a customer: every part of its condition with its value, then the verdict",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pbName, ruleID, ok := strings.Cut(rule, "/")
			if customer == "" || !ok || pbName == "" || ruleID == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("want --customer ID and --rule PLAYBOOK/RULE, like --rule rfm-care/recall-important-retain")}
			}
			a, when, err := openEvaluator(cmd.Context(), g, dir, at, cmd.ErrOrStderr(), "nothing was explained")
			if err != nil {
				return err
			}
			defer a.Close()
			x, err := a.engine.Explain(cmd.Context(), engine.ExplainRequest{Playbook: pbName, Rule: ruleID, CustomerID: customer, At: when})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(x)
			}
			printExplanation(out, x, a.cfg.location)
			return nil
		},
	}
	cmd.Flags().StringVar(&customer, "customer", "", "the customer's `id`")
	cmd.Flags().StringVar(&rule, "rule", "", "the rule, as `PLAYBOOK/RULE`")
	cmd.Flags().StringVar(&dir, "playbooks", "", "playbooks `directory` (default: the config's)")
	cmd.Flags().StringVar(&at, "at", "", "the moment to explain: RFC 3339 or a date (default now)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	return cmd
}

// printStep prints an explained condition, one part per line:
// `recency_days > 45 → 63 > 45 → true`.
func printStep(out io.Writer, s *rules.Step, depth int) {
	line := strings.Repeat("  ", depth) + s.Expr
	if s.Compared != "" {
		line += " → " + s.Compared
	}
	if s.Error != "" {
		line += " → error: " + s.Error
	} else {
		line += " → " + rules.FormatValue(s.Value)
	}
	fmt.Fprintln(out, line)
	for _, c := range s.Children {
		printStep(out, c, depth+1)
	}
}

func printExplanation(out io.Writer, x *evaluate.Explanation, loc *time.Location) {
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04 MST") }
	fmt.Fprintf(out, "%s/%s for %s at %s\n", x.Playbook, x.Rule, x.CustomerID, day(x.At))
	if x.On != "" {
		fmt.Fprintf(out, "(runs on %s events: explained as if one arrived now)\n", x.On)
	}
	if x.Audience != nil {
		fmt.Fprint(out, "\naudience: ")
		printStep(out, x.Audience, 0)
	}
	fmt.Fprint(out, "\nwhen: ")
	printStep(out, x.When, 0)
	fmt.Fprintln(out)
	switch x.Verdict {
	case evaluate.VerdictFires:
		msg := "verdict: FIRES"
		if x.Variant != "" {
			msg += " (variant " + x.Variant + ")"
		}
		if x.DeliverAt != nil {
			msg += fmt.Sprintf("; messages wait for %s (%s)", day(*x.DeliverAt), x.Reason)
		}
		fmt.Fprintln(out, msg)
	case evaluate.VerdictHoldout:
		fmt.Fprintln(out, "verdict: matches, but the customer is in the holdout (control group): nothing is sent")
	case evaluate.VerdictSuppressed:
		msg := "verdict: matches, suppressed by " + x.Reason
		if x.By != "" {
			msg += " (the benefit group's rule " + x.By + " fired)"
		}
		fmt.Fprintln(out, msg)
	case evaluate.VerdictStopped:
		fmt.Fprintf(out, "verdict: not evaluated: the earlier rule %s matched and has stop: true\n", x.StoppedBy)
	case evaluate.VerdictNotInAudience:
		fmt.Fprintln(out, "verdict: not in the playbook's audience")
	case evaluate.VerdictError:
		fmt.Fprintf(out, "verdict: the condition failed: %s\n", x.Reason)
	default:
		fmt.Fprintln(out, "verdict: does not match")
	}
	st := x.State
	var parts []string
	switch {
	case st.Fires == 0:
		parts = append(parts, "never fired for this customer")
	case st.Once:
		parts = append(parts, fmt.Sprintf("fired on %s (once: never again)", day(*st.LastFire)))
	default:
		parts = append(parts, fmt.Sprintf("last fired %s (%s)", day(*st.LastFire), plural(st.Fires, "fire")))
	}
	if st.GroupFire != nil {
		g := fmt.Sprintf("benefit group %s last fired by %s on %s", st.Group, st.GroupFire.By, day(*st.GroupFire.At))
		if st.Once {
			g += " (once: the group's fire counts as this rule's)"
		}
		parts = append(parts, g)
	} else if st.Group != "" {
		parts = append(parts, fmt.Sprintf("benefit group %s never fired for this customer", st.Group))
	}
	switch {
	case st.CooldownUntil != nil:
		parts = append(parts, "cooling down until "+day(*st.CooldownUntil))
	case !st.Once && (st.Fires > 0 || st.GroupFire != nil):
		parts = append(parts, "cooldown over")
	}
	if st.Holdout {
		parts = append(parts, "in the holdout")
	} else {
		parts = append(parts, "not in the holdout")
	}
	if len(st.Channels) > 0 {
		parts = append(parts, "messages on "+strings.Join(st.Channels, ", "))
	}
	if len(st.OptOut) > 0 {
		parts = append(parts, "opted out of "+strings.Join(st.OptOut, ", "))
	}
	contact := fmt.Sprintf("%d messages in the last 7 days", st.Contacts7d)
	if st.LastContactDays != nil {
		contact += fmt.Sprintf(", last %d days ago", *st.LastContactDays)
	}
	parts = append(parts, contact)
	fmt.Fprintf(out, "state: %s\n", strings.Join(parts, "; "))
}

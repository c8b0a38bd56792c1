package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
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
		Long: `Show why a rule would or would not fire for a customer at --at (default
now): every part of its condition with its value, then the verdict, as a run
would decide it.

For a journey, --rule JOURNEY/STEP explains a step, and --rule JOURNEY alone
the customer's next one: where they are in the journey (not in it, and
whether they may enter; waiting for the step; past it), exit_when and the
step's when with the entry's attributes, and what a pass would do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pbName, ruleID, ok := strings.Cut(rule, "/")
			if customer == "" || pbName == "" || (ok && ruleID == "") {
				return &exitError{code: exitUsage, err: fmt.Errorf("want --customer ID and --rule PLAYBOOK/RULE, like --rule rfm-care/recall-important-retain (a journey's name alone explains the customer's next step)")}
			}
			a, when, err := openEvaluator(cmd.Context(), g, dir, at, cmd.ErrOrStderr(), "nothing was explained")
			if err != nil {
				return err
			}
			defer a.Close()
			if pb, found := a.engine.Playbook(pbName); !ok && (!found || pb.Journey == nil) {
				return &exitError{code: exitUsage, err: fmt.Errorf("--rule %s: want PLAYBOOK/RULE, like --rule rfm-care/recall-important-retain (a journey's name alone explains the customer's next step)", rule)}
			}
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
	if x.Journey != nil {
		printJourneyExplanation(out, x, day)
		return
	}
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
		fmt.Fprintln(out, "verdict: FIRES"+firesDetail(x, day))
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

// printJourneyExplanation prints a journey step's explanation: where the
// customer is in the journey, its conditions, then the verdict.
func printJourneyExplanation(out io.Writer, x *evaluate.Explanation, day func(time.Time) string) {
	jx := x.Journey
	if st := jx.State; st != nil {
		line := fmt.Sprintf("journey: entry %d at %s, %s", st.Entry, day(st.EnteredAt), st.Status)
		switch {
		case st.Status == domain.JourneyEntered:
			line += fmt.Sprintf(", next step %s due %s", st.NextStep, day(st.DueAt))
		case !st.EndedAt.IsZero():
			line += " at " + day(st.EndedAt)
		}
		if st.Holdout {
			line += " (held out: steps are recorded, not acted on)"
		}
		fmt.Fprintln(out, line)
	} else {
		fmt.Fprintln(out, "journey: never entered")
	}
	if x.Verdict == evaluate.VerdictNotEntered {
		if jx.On != "" {
			fmt.Fprintf(out, "enters on a %s event", jx.On)
			if jx.Enter != nil {
				fmt.Fprint(out, ", when enter.when holds")
			}
			fmt.Fprintln(out)
		}
		if jx.Enter != nil {
			fmt.Fprint(out, "\nenter.when: ")
			printStep(out, jx.Enter, 0)
		}
		switch {
		case !jx.MayEnter:
			fmt.Fprintln(out, "\nverdict: not in the journey, and may not enter again (reenter)")
		case jx.Enter != nil && jx.Enter.Value != true:
			fmt.Fprintln(out, "\nverdict: not in the journey: enter.when does not hold now")
		case jx.On != "":
			fmt.Fprintf(out, "\nverdict: not in the journey: enters at their next %s event\n", jx.On)
		default:
			fmt.Fprintln(out, "\nverdict: not in the journey: enters at the journey's next scheduled pass")
		}
		return
	}
	if jx.Exit != nil {
		fmt.Fprint(out, "\nexit_when: ")
		printStep(out, jx.Exit, 0)
	}
	fmt.Fprint(out, "\nwhen: ")
	printStep(out, x.When, 0)
	fmt.Fprintln(out)
	switch x.Verdict {
	case evaluate.VerdictPassed:
		fmt.Fprintln(out, "verdict: the customer is past this step")
	case evaluate.VerdictWaiting:
		if st := jx.State; st != nil && st.NextStep != x.Rule {
			fmt.Fprintf(out, "verdict: waiting: %s comes first (due %s); this step is due %s\n", st.NextStep, day(st.DueAt), day(*jx.DueAt))
		} else {
			fmt.Fprintf(out, "verdict: waiting: the step is due %s\n", day(*jx.DueAt))
		}
	case evaluate.VerdictFires:
		fmt.Fprintln(out, "verdict: due, FIRES"+firesDetail(x, day))
	case evaluate.VerdictHoldout:
		fmt.Fprintln(out, "verdict: due, but the customer is held out: the step is recorded, nothing is sent")
	case evaluate.VerdictNotMatched:
		fmt.Fprintln(out, "verdict: due, skipped: its when is false; the journey goes on")
	case evaluate.VerdictSuppressed:
		switch x.Reason {
		case engine.ReasonExited:
			fmt.Fprintln(out, "verdict: exit_when holds: the customer leaves the journey before this step")
		case evaluate.ReasonBlastGuard:
			fmt.Fprintln(out, "verdict: due, but a pass of this journey is held by the blast guard: no step is taken until it is approved or rejected")
		default:
			fmt.Fprintln(out, "verdict: due, suppressed by "+x.Reason)
		}
	case evaluate.VerdictError:
		fmt.Fprintf(out, "verdict: a condition failed: %s\n", x.Reason)
	}
}

// firesDetail is what a fire's verdict adds: its variant, and when its
// messages wait.
func firesDetail(x *evaluate.Explanation, day func(time.Time) string) string {
	msg := ""
	if x.Variant != "" {
		msg += " (variant " + x.Variant + ")"
	}
	if x.DeliverAt != nil {
		msg += fmt.Sprintf("; messages wait for %s (%s)", day(*x.DeliverAt), x.Reason)
	}
	return msg
}

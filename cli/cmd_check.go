package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/evaluate"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

func newCheckCmd(g *globals) *cobra.Command {
	var asJSON, strict bool
	cmd := &cobra.Command{
		Use:   "check PATH...",
		Short: "Validate playbook files and directories; prints file:line:col: message for each problem, and warnings",
		Long: `Validate playbooks: every error with file:line:col, then warnings about
playbooks that load but will likely not do what was meant: a rule an earlier
stop rule always claims, a messaging cooldown no longer than the schedule, a
channel no customer in the database can be reached on, coupons without a
holdout.

Exit codes: 0 valid (warnings allowed); 1 an error, or a warning with --strict;
2 bad flags or config.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g.config)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			// The same options the server loads with: a playbook that passes
			// check loads in koi serve with this config.
			traits := cfg.channelTraits(g.registry())
			opts := rules.Options{Env: profile.ExprEnv(), Registry: g.registry(), Tiers: cfg.Tiers, Timezone: cfg.location,
				Channels: cfg.channelNames(), Shapes: traits.shapes, Guides: cfg.guides(), Sample: profile.SampleValues(), Policy: cfg.policyWith(traits.limits)}
			pbs, err := rules.LoadPaths(args, opts)
			var errs rules.ErrorList
			if err != nil && !errors.As(err, &errs) {
				return err
			}
			lopts := rules.LintOptions{Unreachable: unreachable(cmd.Context(), traits.addresses, g.db)}
			if len(errs) == 0 {
				tasks, done := previewTasks(cmd.Context(), g, args)
				defer done()
				lopts.Tasks = tasks
			}
			warnings := rules.ErrorList{}
			for _, pb := range pbs {
				warnings = append(warnings, rules.Lint(pb, lopts)...)
			}
			warnings = append(warnings, rules.LintGroups(pbs)...)
			chErrs, chWarnings := channelChecks(cfg, g.registry())
			errs = append(errs, chErrs...)
			warnings = append(warnings, chWarnings...)
			out := cmd.OutOrStdout()
			if asJSON {
				names := make([]string, len(pbs))
				for i, pb := range pbs {
					names[i] = pb.Name
				}
				if errs == nil {
					errs = rules.ErrorList{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(map[string]any{"ok": len(errs) == 0 && (!strict || len(warnings) == 0), "playbooks": names, "errors": errs, "warnings": warnings})
			} else {
				for _, e := range errs {
					fmt.Fprintln(out, e.Error())
				}
				for _, w := range warnings {
					fmt.Fprintf(out, "%s:%d:%d: warning: %s\n", w.File, w.Line, w.Col, w.Msg)
				}
				if len(errs) == 0 {
					msg := fmt.Sprintf("ok: %s valid", plural(len(pbs), "playbook"))
					if len(warnings) > 0 {
						msg += ", " + plural(len(warnings), "warning")
					}
					fmt.Fprintln(out, msg)
				}
			}
			if len(errs) > 0 {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s found", plural(len(errs), "problem"))}
			}
			if strict && len(warnings) > 0 {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s, and --strict fails on warnings", plural(len(warnings), "warning"))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 1) on warnings too")
	return cmd
}

// unreachable returns lint's check of a channel against the data: the
// field a channel reaches customers by (addresses, by channel name), when
// the database has customers and none has it.
// Without a database (checking playbooks in a fresh clone) it checks
// nothing: no data is not the same as data without the field.
func unreachable(ctx context.Context, addresses map[string]string, dbPath string) func(string) string {
	if _, err := os.Stat(dbPath); err != nil {
		return nil
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil
	}
	defer db.Close()
	counts := map[string]int{}
	total, _, err := db.Counts(ctx)
	if err != nil || total == 0 {
		return nil
	}
	for _, field := range addresses {
		if n, err := db.CountCustomersWith(ctx, field); err == nil {
			counts[field] = n
		}
	}
	return func(channel string) string {
		field := addresses[channel]
		if n, ok := counts[field]; ok && field != "" && n == 0 {
			return field
		}
		return ""
	}
}

// previewTasks returns lint's count of the tasks per guide a run of a
// playbook would create now, from a preview over the database (none
// without one); done releases the database.
func previewTasks(ctx context.Context, g *globals, paths []string) (func(*rules.Playbook, *rules.Rule) string, func()) {
	if _, err := os.Stat(g.db); err != nil {
		return nil, func() {}
	}
	a, err := openApp(ctx, g, 0)
	if err != nil {
		return nil, func() {}
	}
	if err := a.engine.Load(paths...); err != nil {
		a.Close()
		return nil, func() {}
	}
	said := map[string]string{}
	return func(pb *rules.Playbook, _ *rules.Rule) string {
		if s, ok := said[pb.Name]; ok {
			return s
		}
		said[pb.Name] = ""
		p, err := a.engine.Preview(ctx, engine.PreviewRequest{Playbook: pb.Name, At: time.Now(), Sample: -1})
		if err != nil || len(p.Tasks) == 0 {
			return ""
		}
		var parts []string
		for _, t := range p.Tasks {
			guide := t.Guide
			if guide == "" {
				guide = "customers without a guide"
			}
			parts = append(parts, fmt.Sprintf("%d for %s", t.Tasks, guide))
		}
		said[pb.Name] = "a run of " + pb.Name + " now would create " + plural(sumTasks(p.Tasks), "task") + ": " + strings.Join(parts, ", ")
		return said[pb.Name]
	}, a.Close
}

func sumTasks(ts []evaluate.GuideTasks) int {
	n := 0
	for _, t := range ts {
		n += t.Tasks
	}
	return n
}

// channelChecks opens the configured channels as koi serve would. A
// channel whose settings are wrong (an unknown type or key) is an error:
// koi serve would not start. One that only cannot open now (a secret_env
// that is unset) is a warning: the playbooks are fine, but messages on it
// would wait in the outbox until it is fixed. Each is at its key in
// koi.yaml.
func channelChecks(cfg *config, reg *actions.Registry) (errs, warnings []rules.Error) {
	problems := cfg.channelProblems(reg)
	for _, name := range slices.Sorted(maps.Keys(problems)) {
		err := problems[name]
		var oe *openError
		opening := errors.As(err, &oe)
		var list configErrors
		var one *configError
		switch {
		case errors.As(err, &list):
		case errors.As(err, &one):
			list = configErrors{one}
		default:
			list = configErrors{{Path: cfg.path, Line: 1, Col: 1, Key: "channels." + name, Msg: err.Error()}}
		}
		for _, e := range list {
			re := rules.Error{File: e.Path, Line: e.Line, Col: e.Col, Msg: e.Key + ": " + e.Msg}
			if e.Env != "" {
				re.File, re.Line, re.Col = "environment "+e.Env, 0, 0
			}
			if opening {
				re.Msg += fmt.Sprintf(": channel %s cannot deliver, so its messages would wait in the outbox", name)
				warnings = append(warnings, re)
			} else {
				re.Msg += ": koi serve would not start"
				errs = append(errs, re)
			}
		}
	}
	return errs, warnings
}

package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/rules"
)

func newCheckCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check PATH...",
		Short: "Validate playbook files and directories; prints file:line:col: message for each problem",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g.config)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			// The same options the server loads with: a playbook that passes
			// check loads in koi serve with this config.
			opts := rules.Options{Env: engine.ExprEnv(), Registry: g.registry(), Tiers: cfg.Tiers, Timezone: cfg.location,
				Channels: cfg.channelNames(), Guides: cfg.guides(), Sample: engine.SampleValues()}
			pbs, err := rules.LoadPaths(args, opts)
			var errs rules.ErrorList
			if err != nil && !errors.As(err, &errs) {
				return err
			}
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
				_ = enc.Encode(map[string]any{"ok": len(errs) == 0, "playbooks": names, "errors": errs})
			} else {
				for _, e := range errs {
					fmt.Fprintln(out, e.Error())
				}
				if len(errs) == 0 {
					fmt.Fprintf(out, "ok: %s valid\n", plural(len(pbs), "playbook"))
				}
			}
			if len(errs) > 0 {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s found", plural(len(errs), "problem"))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

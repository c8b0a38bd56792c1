package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/rules"
)

// testReport is koi test's --json output.
type testReport struct {
	OK     bool            `json:"ok"`
	Passed int             `json:"passed"`
	Failed int             `json:"failed"`
	Cases  []caseResult    `json:"cases"`
	Errors rules.ErrorList `json:"errors"`
	Other  []string        `json:"other_errors,omitempty"`
}

func newTestCmd(g *globals) *cobra.Command {
	var asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "test PATH...",
		Short: "Run playbook test files (*_test.yaml): made-up customers at a fixed time, and what the playbook must do to each",
		Long: `Run playbook test files. PATH is a test file or a directory searched
recursively for *_test.yaml files. Each case runs in a fresh database of its
own through the same engine as koi serve; nothing touches koi.db.

Exit codes: 0 every case passed; 1 a case failed, a test file or its playbook
is invalid, or no test file was found; 2 bad flags.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g.config)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			files, err := testFiles(args)
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if len(files) == 0 {
				return &exitError{code: exitFailed, err: fmt.Errorf("no test files (*_test.yaml) in %v", args)}
			}
			pt := &playTester{cfg: cfg, registry: g.registry}
			rep := testReport{Cases: []caseResult{}, Errors: rules.ErrorList{}}
			out := cmd.OutOrStdout()
			for _, f := range files {
				results, err := pt.runFile(cmd.Context(), f)
				var list rules.ErrorList
				switch {
				case errors.As(err, &list):
					rep.Errors = append(rep.Errors, list...)
				case err != nil:
					rep.Other = append(rep.Other, err.Error())
				}
				rep.Cases = append(rep.Cases, results...)
				failed := 0
				for _, r := range results {
					if r.Passed {
						rep.Passed++
						if verbose && !asJSON {
							fmt.Fprintf(out, "ok    %s:%d: %s\n", r.File, r.Line, r.Case)
						}
						continue
					}
					failed++
					rep.Failed++
					if !asJSON {
						fmt.Fprintf(out, "FAIL  %s:%d: case %q\n", r.File, r.Line, r.Case)
						for _, f := range r.Failures {
							fmt.Fprintf(out, "  %s\n", f)
						}
					}
				}
				if asJSON {
					continue
				}
				if err != nil {
					fmt.Fprintf(out, "FAIL  %s\n%s\n", f, indent(err.Error()))
				} else if failed == 0 && !verbose {
					fmt.Fprintf(out, "ok    %s (%s)\n", f, plural(len(results), "case"))
				}
			}
			rep.OK = rep.Failed == 0 && len(rep.Errors) == 0 && len(rep.Other) == 0
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(rep)
			} else {
				fmt.Fprintf(out, "%s in %s: %d passed, %d failed\n", plural(rep.Passed+rep.Failed, "case"), plural(len(files), "file"), rep.Passed, rep.Failed)
			}
			if !rep.OK {
				return &exitError{code: exitFailed, err: errors.New("")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every case, not only failures")
	return cmd
}

// indent prefixes each line of s with two spaces.
func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

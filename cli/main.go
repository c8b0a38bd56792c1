// Package cli is the koi command: the server and its tools, wired from
// the engine, its adapters and a registry of actions. cmd/koi runs it
// with the built-in actions; a custom koi adds its own in a main of a few
// lines (see examples/customaction):
//
//	func main() { os.Exit(cli.Main(os.Args[1:], builtin.Register, loyalty.Register)) }
package cli

import (
	"errors"
	"fmt"
	"os"
	_ "time/tzdata" // playbook timezones must load on hosts without zoneinfo

	"github.com/spf13/cobra"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// Exit codes. Scripts and CI depend on them; docs/cli.md documents them.
const (
	exitOK      = 0
	exitFailed  = 1 // invalid input (playbooks, import lines) or a failed run
	exitUsage   = 2 // bad flags or arguments
	exitHeld    = 3 // a run was held by the blast guard
	exitPartial = 4 // an import kept its good lines and skipped bad ones
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Main runs the koi command with args (without the program name) and
// returns its exit code. register adds the actions, workers and channel
// types this koi knows to a fresh registry; pass builtin.Register first,
// then any plugin's. Every command that loads playbooks or delivers jobs
// builds its registry so.
func Main(args []string, register ...func(*actions.Registry)) int {
	tuneGC()
	return run(args, register...)
}

func run(args []string, register ...func(*actions.Registry)) int {
	root := newRoot(register...)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "koi:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "koi:", err)
	if domain.ErrorCode(err) == domain.EInvalid || domain.ErrorCode(err) == domain.ENotFound {
		return exitFailed
	}
	return exitUsage
}

// globals are the flags every command shares, and the registry's makers.
type globals struct {
	db       string
	config   string
	register []func(*actions.Registry)
}

// registry returns a fresh registry with every registered action.
func (g *globals) registry() *actions.Registry {
	r := actions.NewRegistry()
	for _, add := range g.register {
		add(r)
	}
	return r
}

func newRoot(register ...func(*actions.Registry)) *cobra.Command {
	g := &globals{register: register}
	root := &cobra.Command{
		Use:           "koi",
		Short:         "koi — rules-engine marketing automation for private-domain (私域) customer operations",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.db, "db", "koi.db", "SQLite database `path` (default: database in koi.yaml or $KOI_DATABASE, else koi.db)")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		// The flag wins; then the environment and koi.yaml. A broken config
		// is reported by the command that loads it, not here.
		if cmd.Flags().Changed("db") {
			return
		}
		if cfg, err := loadConfig(g.config); err == nil && cfg.Database != "" {
			g.db = cfg.Database
		}
	}
	root.PersistentFlags().StringVar(&g.config, "config", "", "config `file` (default: koi.yaml when it exists)")
	root.AddCommand(
		newCheckCmd(g),
		newTestCmd(g),
		newPreviewCmd(g),
		newExplainCmd(g),
		newSchemaCmd(g),
		newRunCmd(g),
		newDemoCmd(g),
		newImportCmd(g),
		newExportCmd(g),
		newBenchCmd(g),
		newBenchRepCmd(g),
		newServeCmd(g),
		newKeyCmd(),
		newBackupCmd(g),
		newJobsCmd(g),
		newMergesCmd(g),
		newDecideCmd(g, "approve"),
		newDecideCmd(g, "reject"),
		newReportCmd(g),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	return root
}

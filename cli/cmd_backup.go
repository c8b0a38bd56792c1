package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine/sqlite"
)

func newBackupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE, while koi keeps running",
		Long: `Write a consistent copy of the database to FILE with SQLite's VACUUM INTO:
the copy is the database as committed when the backup began, and koi serve
may keep running meanwhile. FILE must not exist. Restore by stopping koi and
putting the copy in place of the database.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			db, err := sqlite.Open(cmd.Context(), g.db)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Backup(cmd.Context(), args[0]); err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s in %s\n", g.db, args[0], time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

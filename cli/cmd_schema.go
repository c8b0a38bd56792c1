package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/rules"
)

func newSchemaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema playbook|test",
		Short: "Print the JSON Schema of playbooks (with this koi's actions) or of playbook test files, for editors",
		Long: `Print a JSON Schema for editors. With the YAML extension of VS Code (or any
editor using yaml-language-server), a first line such as

  # yaml-language-server: $schema=../schema/playbook.schema.json

gives autocompletion and flags unknown keys as you type. A custom koi binary
prints its own actions' parameters too.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"playbook", "test"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var s map[string]any
			switch args[0] {
			case "playbook":
				s = rules.PlaybookSchema(g.registry())
			case "test":
				s = rules.TestFileSchema()
			default:
				return &exitError{code: exitUsage, err: fmt.Errorf("schema: want playbook or test, got %q", args[0])}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(s)
		},
	}
}

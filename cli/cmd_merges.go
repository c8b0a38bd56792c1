package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine/domain"
)

func newMergesCmd(g *globals) *cobra.Command {
	var (
		f      domain.MergeFilter
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "merges",
		Short: "List customers merged because a record linked them (one identity on both), newest first",
		Long: `List merges: when a record (an import line, a PUT, a WeCom callback) names an
identity another customer has, koi merges the younger customer into the older
and keeps the younger's id as an alias. Each line says when, which ids, the
identity that linked them, where the record came from and what moved over.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd.Context(), g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			ms, err := a.db.ListMerges(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(ms)
			}
			printMerges(cmd.OutOrStdout(), ms)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.CustomerID, "customer", "", "only the merges that made this customer (any of their ids)")
	cmd.Flags().Int64Var(&f.Before, "before", 0, "only merges numbered below this `id` (the next page)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many (up to 1000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printMerges(w io.Writer, ms []domain.Merge) {
	if len(ms) == 0 {
		fmt.Fprintln(w, "no merges")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tMERGED\tINTO\tLINKED BY\tSOURCE\tMOVED")
	for _, m := range ms {
		kind := m.Identity.Kind
		if m.Identity.App != "" {
			kind += "(" + m.Identity.App + ")"
		}
		var moved []string
		for _, k := range slices.Sorted(maps.Keys(m.Moved)) {
			moved = append(moved, fmt.Sprintf("%s %d", k, m.Moved[k]))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s %s\t%s\t%s\n", m.ID, m.At.Local().Format("2006-01-02 15:04:05"), m.Merged, m.Survivor,
			kind, m.Identity.Value, m.Source, strings.Join(moved, ", "))
	}
	tw.Flush()
}

package cli

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

func newExportCmd(g *globals) *cobra.Command {
	var at, where, format string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print one profile per customer (JSONL or CSV), e.g. as lookalike seeds for ad platforms",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--format: want jsonl or csv, got %q", format)}
			}
			a, err := openApp(cmd.Context(), g, 0)
			if err != nil {
				return err
			}
			defer a.Close()
			when, err := parseAt(at, a.cfg.location)
			if err != nil {
				return err
			}
			var cond *rules.Condition
			if where != "" {
				if cond, err = rules.CompileExpr(where, profile.ExprEnv()); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--where: %v", err)}
				}
			}
			pond, err := a.db.LoadPond(cmd.Context())
			if err != nil {
				return err
			}
			snap := profile.ComputeSnapshot(pond, when, a.cfg.profile)
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			var out exportWriter = &jsonlWriter{enc: json.NewEncoder(w)}
			if format == "csv" {
				cw := &csvWriter{w: csv.NewWriter(w)}
				defer cw.w.Flush()
				out = cw
			}
			var m rules.Evaluator
			var buf profile.ProfileBuf
			for i := range snap.Len() {
				if !snap.Present[i] {
					continue
				}
				p := snap.Fill(i, &buf)
				if cond != nil {
					ok, err := cond.Eval(&m, p)
					if err != nil {
						return &exitError{code: exitFailed, err: fmt.Errorf("--where on customer %s: %v", p.ID, err)}
					}
					if !ok {
						continue
					}
				}
				if err := out.write(p.Values()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "compute profiles at this `time` (default: now)")
	cmd.Flags().StringVar(&where, "where", "", "only customers matching this `expr`, like 'rfm.segment == \"important_value\"'")
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl or csv")
	return cmd
}

type exportWriter interface{ write(map[string]any) error }

type jsonlWriter struct{ enc *json.Encoder }

func (j *jsonlWriter) write(v map[string]any) error { return j.enc.Encode(v) }

// csvWriter flattens rfm into rfm_r..rfm_segment and encodes tags and attrs as JSON.
type csvWriter struct {
	w      *csv.Writer
	header bool
}

func (c *csvWriter) write(v map[string]any) error {
	if !c.header {
		var h []string
		for _, n := range profile.ValueNames {
			if n == "rfm" {
				h = append(h, "rfm_r", "rfm_f", "rfm_m", "rfm_segment")
				continue
			}
			h = append(h, n)
		}
		c.header = true
		if err := c.w.Write(h); err != nil {
			return err
		}
	}
	row := make([]string, 0, len(profile.ValueNames)+3)
	for _, n := range profile.ValueNames {
		switch val := v[n].(type) {
		case map[string]any:
			if n == "rfm" {
				row = append(row, fmt.Sprint(val["r"]), fmt.Sprint(val["f"]), fmt.Sprint(val["m"]), fmt.Sprint(val["segment"]))
				continue
			}
			b, _ := json.Marshal(val)
			row = append(row, string(b))
		case []string:
			b, _ := json.Marshal(val)
			row = append(row, string(b))
		case nil:
			row = append(row, "")
		case float64:
			row = append(row, strconv.FormatFloat(val, 'f', -1, 64))
		default:
			row = append(row, fmt.Sprint(val))
		}
	}
	return c.w.Write(row)
}

package cli

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/rules"
)

func newExportCmd(g *globals) *cobra.Command {
	var at, where, format, ids string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print one profile per customer (JSONL or CSV), or with --ids an audience's identities for ad platforms",
		Long: `Print one profile per customer (JSONL or CSV) of the customers --where (or
--audience) selects, at --at.

With --ids, print instead the audience's identities in the forms ad platforms
take for lookalike audiences (公域): --ids phone_md5,phone_sha256,unionid writes
one row per customer who has one of them, those columns only (no name, no
profile), and the counts to standard error. A phone is hashed as platforms in
China hash one: a mainland mobile number as its 11 digits, another as its E.164
digits without the +; hashes are lower-case hex. Forms: phone_md5,
phone_sha256, email_md5, email_sha256, unionid, wecom_external_userid.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--format: want jsonl or csv, got %q", format)}
			}
			var forms []string
			if ids != "" {
				var err error
				if forms, err = parseIDForms(ids); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
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
			var idsOf map[string][]domain.Identity
			if forms != nil {
				idsOf = map[string][]domain.Identity{}
				if err := a.db.EachIdentity(cmd.Context(), func(c string, id domain.Identity) { idsOf[c] = append(idsOf[c], id) }); err != nil {
					return err
				}
			}
			snap := profile.ComputeSnapshot(pond, when, a.cfg.profile)
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			var out exportWriter = &jsonlWriter{enc: json.NewEncoder(w)}
			if format == "csv" {
				cw := &csvWriter{w: csv.NewWriter(w), columns: forms}
				defer cw.w.Flush()
				out = cw
			}
			audience, exported := 0, 0
			perForm := make([]int, len(forms))
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
				audience++
				if forms == nil {
					if err := out.write(p.Values()); err != nil {
						return err
					}
					continue
				}
				// Only the identities, in the forms asked for.
				row := map[string]any{}
				for k, form := range forms {
					for _, id := range idsOf[p.ID] {
						if v := idForm(form, id); v != "" {
							row[form] = v
							perForm[k]++
							break
						}
					}
				}
				if len(row) == 0 {
					continue
				}
				exported++
				if err := out.write(row); err != nil {
					return err
				}
			}
			if forms != nil {
				counts := make([]string, len(forms))
				for k, f := range forms {
					counts[k] = fmt.Sprintf("%s %d", f, perForm[k])
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of the audience's %d customers exported (%s)\n", exported, audience, strings.Join(counts, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "compute profiles at this `time` (default: now)")
	cmd.Flags().StringVar(&where, "where", "", "only customers matching this `expr`, like 'rfm.segment == \"important_value\"'")
	cmd.Flags().StringVar(&where, "audience", "", "the same as --where: the audience, an `expr`")
	cmd.Flags().StringVar(&ids, "ids", "", "write the audience's identities in these `forms` (comma-separated) instead of profiles")
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
	// columns, when set, are the only columns (koi export --ids).
	columns []string
}

func (c *csvWriter) write(v map[string]any) error {
	if c.columns != nil {
		if !c.header {
			c.header = true
			if err := c.w.Write(c.columns); err != nil {
				return err
			}
		}
		row := make([]string, len(c.columns))
		for k, col := range c.columns {
			if s, ok := v[col].(string); ok {
				row[k] = s
			}
		}
		return c.w.Write(row)
	}
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

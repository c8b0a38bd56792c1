package console

import (
	"context"
	"net/http"
	"time"

	"github.com/koihq/koi/engine/report"
)

// reportBudget bounds one outcome report.
const reportBudget = 30 * time.Second

// ciWidth is the width of an uplift's drawing, in the SVG's units.
const ciWidth = 400.0

// ciDrawing places an uplift and its 95% interval on an axis that holds
// them and zero: X positions in a ciWidth-wide SVG.
type ciDrawing struct {
	C                 *report.Comparison
	Zero, Low, High   float64
	Point             float64
	AxisLow, AxisHigh float64
}

func drawCI(c *report.Comparison) *ciDrawing {
	if c == nil {
		return nil
	}
	lo, hi := min(c.CILow, 0, c.Uplift), max(c.CIHigh, 0, c.Uplift)
	if hi-lo < 1e-9 {
		lo, hi = lo-0.01, hi+0.01
	}
	pad := (hi - lo) * 0.1
	lo, hi = lo-pad, hi+pad
	x := func(v float64) float64 { return 10 + (ciWidth-20)*(v-lo)/(hi-lo) }
	return &ciDrawing{C: c, Zero: x(0), Low: x(c.CILow), High: x(c.CIHigh), Point: x(c.Uplift), AxisLow: lo, AxisHigh: hi}
}

type variantRow struct {
	V  report.VariantReport
	CI *ciDrawing
}

type reportRow struct {
	R        *report.RuleReport
	CI       *ciDrawing
	Variants []variantRow
}

type reportData struct {
	Playbook string
	At       time.Time
	Rules    []reportRow
}

// reportPage shows a playbook's outcome report: per rule, the treated
// and holdout groups' conversion and revenue, and the uplift with its 95%
// confidence interval drawn, then each variant against the holdout.
func (s *server) reportPage(w http.ResponseWriter, r *http.Request, v *view) {
	name := r.PathValue("name")
	if _, ok := s.engine.Playbook(name); !ok {
		s.fail(w, r, v, http.StatusNotFound, "error.notfound")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reportBudget)
	defer cancel()
	now := s.cfg.Now()
	reps, err := s.engine.Report(ctx, name, now)
	if err != nil {
		s.storeFailure(w, r, v, err)
		return
	}
	d := &reportData{Playbook: name, At: now}
	for _, rr := range reps {
		row := reportRow{R: rr, CI: drawCI(rr.Uplift)}
		for _, vr := range rr.Variants {
			row.Variants = append(row.Variants, variantRow{V: vr, CI: drawCI(vr.VsHoldout)})
		}
		d.Rules = append(d.Rules, row)
	}
	v.Title, v.Data = "report.title", d
	s.render(w, r, http.StatusOK, "report", v)
}

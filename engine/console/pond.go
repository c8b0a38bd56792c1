package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/koihq/koi/engine"
)

// summaryCache keeps the pond summary of each window. The summary reads
// every profile twice, a second or more at a million customers, so a page
// shows the latest one computed: when the pond has moved since (or it is
// older than refreshAfter) the page still shows it, with its time, and a
// new one is computed in the background, one at a time.
type summaryCache struct {
	// ctx bounds the background computations.
	ctx    context.Context
	engine *engine.Engine
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	entries map[int]*engine.PondSummary
	busy    map[int]bool
}

// refreshAfter is how old a summary may get while the pond is unchanged
// before it is computed again: recency and windows move with the clock.
const refreshAfter = 10 * time.Minute

// summaryBudget bounds the computation of one summary.
const summaryBudget = 2 * time.Minute

func newSummaryCache(ctx context.Context, e *engine.Engine, now func() time.Time, log *slog.Logger) *summaryCache {
	return &summaryCache{ctx: ctx, engine: e, now: now, log: log, entries: map[int]*engine.PondSummary{}, busy: map[int]bool{}}
}

// get returns the summary for window days: the cached one while it is
// current, else the cached one with a recomputation started, else one
// computed now.
func (c *summaryCache) get(ctx context.Context, days int) (*engine.PondSummary, error) {
	version, err := c.engine.PondVersion(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	c.mu.Lock()
	s := c.entries[days]
	stale := s == nil || s.Version != version || now.Sub(s.At) > refreshAfter
	start := stale && s != nil && !c.busy[days]
	if start {
		c.busy[days] = true
	}
	c.mu.Unlock()
	if s != nil {
		if start {
			go c.refresh(days)
		}
		return s, nil
	}
	return c.compute(ctx, days)
}

// refresh computes the summary of a window in the background.
func (c *summaryCache) refresh(days int) {
	defer func() {
		c.mu.Lock()
		c.busy[days] = false
		c.mu.Unlock()
	}()
	if _, err := c.compute(c.ctx, days); err != nil && c.ctx.Err() == nil {
		c.log.Error("pond summary failed", "window_days", days, "err", err)
	}
}

func (c *summaryCache) compute(ctx context.Context, days int) (*engine.PondSummary, error) {
	ctx, cancel := context.WithTimeout(ctx, summaryBudget)
	defer cancel()
	s, err := c.engine.PondSummary(ctx, c.now(), days)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if old := c.entries[days]; old == nil || !old.At.After(s.At) {
		c.entries[days] = s
	}
	c.mu.Unlock()
	return s, nil
}

// warm computes the summaries of every window in the background, one
// after the other, so that no visit to the pond page waits for one.
func (c *summaryCache) warm() {
	go func() {
		for _, days := range engine.SummaryWindows {
			c.mu.Lock()
			busy := c.busy[days]
			c.busy[days] = true
			c.mu.Unlock()
			if !busy {
				c.refresh(days)
			}
			if c.ctx.Err() != nil {
				return
			}
		}
	}()
}

// defaultWindow is the GMV window the pond page opens with.
const defaultWindow = 30

// pondData is the pond page.
type pondData struct {
	S       *engine.PondSummary
	Windows []int
	Funnel  []funnelBar
	// SVGHeight is the funnel's height in the SVG's units.
	SVGHeight int
	Segments  []segmentRow
	Factors   []factorRow
}

// funnelBar is one layer drawn: a centred bar as wide as its share of
// the widest layer.
type funnelBar struct {
	Stage     string
	Customers int
	// X, Y, Width place the bar in a 600-unit-wide SVG.
	X, Y, Width float64
	// Conversion is the share of the layer above (0 for the first).
	Conversion float64
	First      bool
}

type segmentRow struct {
	Segment              string
	Customers            int
	Share                float64
	AvgSpend, AvgRecency float64
	HasRecency           bool
}

type factorRow struct {
	Key               string
	Current, Previous string
	Change            string
}

func (s *server) pondPage(w http.ResponseWriter, r *http.Request, v *view) {
	days := defaultWindow
	if q := r.URL.Query().Get("window"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || !slices.Contains(engine.SummaryWindows, n) {
			s.fail(w, r, v, http.StatusBadRequest, "error.notfound")
			return
		}
		days = n
	}
	sum, err := s.pond.get(r.Context(), days)
	if err != nil {
		s.internal(w, r, v, err)
		return
	}
	v.Title, v.Data = "pond.title", buildPondData(sum)
	s.render(w, r, http.StatusOK, "pond", v)
}

const (
	funnelWidth = 600.0
	barHeight   = 36.0
	barGap      = 10.0
)

func buildPondData(s *engine.PondSummary) *pondData {
	d := &pondData{S: s, Windows: engine.SummaryWindows}
	widest := 0
	for _, l := range s.Layers {
		widest = max(widest, l.Customers)
	}
	for i, l := range s.Layers {
		w := funnelWidth
		if widest > 0 {
			w = funnelWidth * float64(l.Customers) / float64(widest)
		}
		w = max(w, 2) // an empty layer still shows where it is
		b := funnelBar{Stage: l.Stage, Customers: l.Customers, X: (funnelWidth - w) / 2, Y: float64(i) * (barHeight + barGap), Width: w, First: i == 0}
		if i > 0 && s.Layers[i-1].Customers > 0 {
			b.Conversion = float64(l.Customers) / float64(s.Layers[i-1].Customers)
		}
		d.Funnel = append(d.Funnel, b)
	}
	d.SVGHeight = int(float64(len(s.Layers)) * (barHeight + barGap))
	for _, seg := range s.Segments {
		row := segmentRow{Segment: seg.Segment, Customers: seg.Customers, AvgSpend: seg.AvgSpend(), AvgRecency: seg.AvgRecency(), HasRecency: seg.Segment != "unscored"}
		if s.Customers > 0 {
			row.Share = float64(seg.Customers) / float64(s.Customers)
		}
		d.Segments = append(d.Segments, row)
	}
	cur, prev := s.Current, s.Previous
	for _, f := range []struct {
		key  string
		c, p float64
		f    func(float64) string
	}{
		{"gmv.own_traffic", cur.OwnTraffic(), prev.OwnTraffic(), fixed(1)},
		{"gmv.referral", cur.Referral(), prev.Referral(), fixed(3)},
		{"gmv.conversion", cur.Conversion(), prev.Conversion(), percent},
		{"gmv.aov", cur.AOV(), prev.AOV(), fixed(2)},
		{"gmv.repurchase", cur.Repurchase(), prev.Repurchase(), fixed(3)},
		{"gmv.gmv", cur.GMVYuan, prev.GMVYuan, fixed(2)},
		{"gmv.active", float64(cur.Active), float64(prev.Active), fixed(0)},
		{"gmv.buyers", float64(cur.Buyers), float64(prev.Buyers), fixed(0)},
		{"gmv.orders", float64(cur.Orders), float64(prev.Orders), fixed(0)},
	} {
		row := factorRow{Key: f.key, Current: f.f(f.c), Previous: f.f(f.p), Change: "–"}
		if f.p != 0 {
			row.Change = fmt.Sprintf("%+.1f%%", 100*(f.c-f.p)/f.p)
		}
		d.Factors = append(d.Factors, row)
	}
	return d
}

func fixed(places int) func(float64) string {
	return func(f float64) string { return groupDigits(strconv.FormatFloat(f, 'f', places, 64)) }
}

func percent(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

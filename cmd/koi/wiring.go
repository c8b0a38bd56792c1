package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/sqlite"
)

// app is what a command needs: config, database and engine.
type app struct {
	cfg    *config
	db     *sqlite.DB
	engine *engine.Engine
}

func openApp(ctx context.Context, g *globals, batchSize int, tune ...func(*engine.Config)) (*app, error) {
	cfg, err := loadConfig(g.config)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	db, err := sqlite.Open(ctx, g.db)
	if err != nil {
		return nil, err
	}
	ecfg := engine.Config{
		Profile:    cfg.profile,
		Tiers:      cfg.Tiers,
		BatchSize:  batchSize,
		AfterBatch: batchPause(),
	}
	for _, t := range tune {
		t(&ecfg)
	}
	e := engine.New(db, builtin.Registry(), ecfg)
	return &app{cfg: cfg, db: db, engine: e}, nil
}

// batchPause is a fault-injection hook for the crash tests: with
// KOI_TEST_BATCH_PAUSE set, a run sleeps after each committed batch of fires,
// so a test can kill the process between two batches.
func batchPause() func(string, int) {
	d, err := time.ParseDuration(os.Getenv("KOI_TEST_BATCH_PAUSE"))
	if err != nil || d <= 0 {
		return nil
	}
	return func(string, int) { time.Sleep(d) }
}

func (a *app) Close() { a.db.Close() }

// parseAt parses --at: RFC 3339, or a date (midnight in the config's timezone).
func parseAt(s string, loc *time.Location) (time.Time, error) {
	if s == "" || s == "now" {
		return time.Now(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &exitError{code: exitUsage, err: fmt.Errorf("--at: %q is not a time (use RFC 3339 like 2026-05-01T10:00:00+08:00, or a date like 2026-05-01)", s)}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	if strings.HasSuffix(word, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}

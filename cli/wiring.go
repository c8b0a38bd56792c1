package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/dispatch"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// app is what a command needs: config, database and engine, and the
// dispatcher once a command asks for it.
type app struct {
	cfg      *config
	db       *sqlite.DB
	engine   *engine.Engine
	registry *actions.Registry
	disp     atomic.Pointer[dispatch.Dispatcher]
}

func openApp(ctx context.Context, g *globals, batchSize int, tune ...func(*engine.Config)) (*app, error) {
	cfg, err := loadConfig(g.config)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	a := &app{cfg: cfg, registry: g.registry()}
	traits := cfg.channelTraits(a.registry)
	ecfg := engine.Config{
		Profile:          cfg.profile,
		Tiers:            cfg.Tiers,
		BatchSize:        batchSize,
		AfterBatch:       batchPause(),
		Channels:         cfg.channelNames(),
		Shapes:           traits.shapes,
		Guides:           cfg.guides(),
		TagSync:          traits.tagSync,
		MaxAttempts:      cfg.Outbox.MaxAttempts,
		Policy:           cfg.policyWith(traits.limits),
		HeldFor:          cfg.heldFor,
		UnsubscribeEvent: cfg.Consent.UnsubscribeEvent,
		JobsQueued: func(int) {
			if d := a.disp.Load(); d != nil {
				d.Nudge()
			}
		},
	}
	for _, t := range tune {
		t(&ecfg)
	}
	// The database's background work (compacting event ids, checkpoints)
	// logs where the engine does, in the configured format and level.
	if ecfg.Logger == nil {
		ecfg.Logger = cfg.Log.logger(os.Stderr)
	}
	db, err := sqlite.Open(ctx, g.db, sqlite.WithLogger(ecfg.Logger))
	if err != nil {
		return nil, err
	}
	a.db = db
	a.engine = engine.New(db, a.registry, ecfg)
	return a, nil
}

// dispatcher opens the configured channels and returns a dispatcher
// delivering with them. Only commands that deliver open channels, so that
// a channel's missing secret does not stop `koi check`.
func (a *app) dispatcher(log *slog.Logger, observe func(*domain.Job, domain.JobState, time.Duration)) (*dispatch.Dispatcher, error) {
	set, err := a.cfg.openChannels(a.registry, log)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	opts, err := a.cfg.dispatchOptions(set.rates, log)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	opts.Delivered = observe
	for name, ch := range set.byName {
		if t, ok := ch.(actions.Tracker); ok {
			if opts.Trackers == nil {
				opts.Trackers = map[string]actions.Tracker{}
			}
			opts.Trackers[name] = t
		}
	}
	workers, err := a.registry.Workers(actions.WorkerContext{
		OpenContext: actions.OpenContext{Getenv: os.Getenv, Logger: log, HTTPClient: set.client, Guides: a.cfg.guides()},
		Channels:    set.byName,
	})
	if err != nil {
		return nil, err
	}
	d := dispatch.New(a.db, workers, opts)
	a.disp.Store(d)
	return d, nil
}

func (a *app) Close() {
	a.engine.Wait()
	a.db.Close()
}

// loadPlaybooks loads the playbooks in dir (the config's directory when
// empty) into the engine. On failure it prints every error to errOut and
// returns an exit error saying what was not done: "nothing was run".
func (a *app) loadPlaybooks(dir string, errOut io.Writer, notDone string) error {
	if dir == "" {
		dir = a.cfg.Playbooks
	}
	if err := a.engine.Load(dir); err != nil {
		fmt.Fprintln(errOut, err)
		return &exitError{code: exitFailed, err: fmt.Errorf("playbooks in %s are invalid; %s", dir, notDone)}
	}
	return nil
}

// parseAt parses --at: RFC 3339, or a date (midnight in the config's timezone).
func parseAt(s string, loc *time.Location) (time.Time, error) {
	if s == "" || s == "now" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if err == nil {
			break
		}
		t, err = time.ParseInLocation(layout, s, loc)
	}
	if err == nil {
		if err := domain.CheckMoment("--at", t, time.Now()); err != nil {
			return time.Time{}, &exitError{code: exitUsage, err: err}
		}
		return t, nil
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

// openEvaluator opens the app, loads the playbooks in dir and parses --at:
// what preview and explain share. The caller closes the app.
func openEvaluator(ctx context.Context, g *globals, dir, at string, errOut io.Writer, notDone string) (*app, time.Time, error) {
	a, err := openApp(ctx, g, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := a.loadPlaybooks(dir, errOut, notDone); err != nil {
		a.Close()
		return nil, time.Time{}, err
	}
	when, err := parseAt(at, a.cfg.location)
	if err != nil {
		a.Close()
		return nil, time.Time{}, err
	}
	return a, when, nil
}

package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/scheduler"
	"github.com/koihq/koi/engine/watch"
	"github.com/koihq/koi/rules"
)

// reloader reloads the playbooks and brings the schedules in line, one
// reload at a time, whoever asks: the watcher, SIGHUP or the API.
type reloader struct {
	engine *engine.Engine
	sched  *scheduler.Scheduler
	paths  []string
	log    *slog.Logger
	mu     sync.Mutex
}

// reload reloads; a file that fails keeps its previous version running,
// and its errors are logged with file:line:col.
func (r *reloader) reload(_ context.Context) (engine.ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.engine.Reload(r.paths...)
	var list rules.ErrorList
	if err != nil && !errors.As(err, &list) {
		r.log.Error("reloading playbooks failed", "err", err)
		return res, err
	}
	for _, e := range list {
		r.log.Error("playbook error; its previous version keeps running", "file", e.File, "line", e.Line, "col", e.Col, "err", e.Msg)
	}
	if len(res.Added)+len(res.Changed)+len(res.Removed) > 0 {
		r.log.Info("playbooks reloaded", "added", res.Added, "changed", res.Changed, "removed", res.Removed)
	}
	if serr := r.sched.Sync(r.engine.Playbooks()); serr != nil {
		r.log.Error("scheduling playbooks", "err", serr)
	}
	return res, err
}

// isLoadError reports whether err is playbook errors, which a server
// reports and survives, rather than a failure to read anything at all.
func isLoadError(err error) bool {
	var list rules.ErrorList
	return errors.As(err, &list)
}

// watchPlaybooks starts watching the playbooks in dir, and returns the
// loop that reloads them when files change, once the changes settle, until
// its context ends. The caller runs the loop on a goroutine it joins (koi
// serve's errgroup), so that no reload can start after the server stopped.
func watchPlaybooks(dir string, r *reloader, log *slog.Logger) (func(context.Context) error, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	w, err := watch.New(dir)
	if err != nil {
		return nil, err
	}
	match := func(name string) bool { return rules.IsPlaybookFile(filepath.Base(name)) }
	return func(ctx context.Context) error {
		return w.Run(ctx, 300*time.Millisecond, match, log, func() {
			log.Info("playbook files changed: reloading")
			_, _ = r.reload(ctx)
		})
	}, nil
}

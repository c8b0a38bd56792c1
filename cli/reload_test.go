package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/scheduler"
	"github.com/koihq/koi/engine/sqlite"
)

// Saving a playbook file reloads it: a broken save keeps the previous
// version and shows its error, a fixed one replaces it, and a changed
// schedule moves the playbook's next run.
func TestWatchedPlaybooksReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "daily.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(e2eDaily)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(db, builtin.Registry(), engine.Config{Logger: log})
	sched, err := scheduler.New(e, scheduler.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Shutdown()
	rl := &reloader{engine: e, sched: sched, paths: []string{dir}, log: log}
	if _, err := rl.reload(ctx); err != nil {
		t.Fatal(err)
	}
	sched.Start()
	run, err := watchPlaybooks(dir, rl, log)
	if err != nil {
		t.Fatal(err)
	}
	watched := make(chan error, 1)
	go func() { watched <- run(ctx) }()
	// The watcher stops before the scheduler and the database it reloads
	// into are closed.
	defer func() {
		cancel()
		if err := <-watched; err != nil {
			t.Errorf("watching: %v", err)
		}
	}()
	first, _ := e.Playbook("daily")
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	write(strings.Replace(e2eDaily, "when: member", "when: membr", 1))
	wait("the error", func() bool { fs := e.Files(); return len(fs) == 1 && !fs[0].OK() })
	if pb, _ := e.Playbook("daily"); pb != first {
		t.Fatal("a broken save replaced the running version")
	}
	write(strings.Replace(e2eDaily, `"0 10 * * *"`, `"30 11 * * *"`, 1))
	wait("the fix", func() bool { fs := e.Files(); return len(fs) == 1 && fs[0].OK() && fs[0].Hash != first.Hash })
	wait("the new schedule", func() bool {
		next, ok := sched.NextRun("daily")
		return ok && next.UTC().Hour() == 11 && next.UTC().Minute() == 30
	})
}

package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDirReportsSettledChanges(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{}, 10)
	yaml := func(name string) bool { return strings.HasSuffix(name, ".yaml") }
	w, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx, 50*time.Millisecond, yaml, slog.Default(), func() { changes <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change reported after %s", what)
		}
	}
	// A burst of writes, as an editor saves, is one change.
	p := filepath.Join(dir, "a.yaml")
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(p, []byte(strings.Repeat("x", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wait("writes")
	// A file renamed over the watched one (how vim saves).
	tmp := filepath.Join(dir, "a.yaml.tmp")
	if err := os.WriteFile(tmp, []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	wait("rename")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	wait("remove")
	// Other files are ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("z"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
		t.Fatal("a change to notes.txt was reported")
	case <-time.After(300 * time.Millisecond):
	}
	if len(changes) != 0 {
		t.Fatalf("%d extra changes reported", len(changes))
	}
}

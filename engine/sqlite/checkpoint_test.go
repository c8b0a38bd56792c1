package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// A commit leaves its pages in the write-ahead log; once writes pause, the
// checkpointer must copy them into the database file itself. The test
// reads a copy of the bare database file, without its log: it holds the
// customer only after a checkpoint.
func TestCheckpointsWhenWritesPause(t *testing.T) {
	path := filepath.Join(t.TempDir(), "koi.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.PutCustomers(context.Background(), []domain.Customer{{ID: "c1", JoinedAt: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n := customersInBareFile(t, path); n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the customer never reached the database file: no checkpoint ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func customersInBareFile(t *testing.T, path string) int {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "bare.db")
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	bare, err := sqlite.Open(context.Background(), cp)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	var n int
	if err := bare.SQL().QueryRow(`SELECT count(*) FROM customers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// lockedBuffer is a log sink the background goroutines may write while a
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// When another process holds the write lock past the busy timeout, the
// housekeeping of a pause waits: a warning, not an error (one for the
// spell, however many pauses find the database busy), and it is tried
// again after a pause even though this process commits nothing more.
func TestHousekeepingRetriesWhenTheDatabaseIsBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koi.db")
	var logs lockedBuffer
	db, err := sqlite.Open(ctx, path, sqlite.WithBusyTimeout(100*time.Millisecond), sqlite.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, db: db, dir: t.TempDir(), reg: builtin.Registry()}
	f.customers(3, 0)
	f.playbook("up", tagAndTier)
	f.run(f.engine(), t0, false)

	// Another process's long write, begun before the pause ends.
	other, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	waits := func() int { return strings.Count(logs.String(), "waits: the database is busy") }
	for waits() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d folds tried while the lock was held, want 3; log:\n%s", waits(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for f.count(`SELECT count(*) FROM customer_changes`) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the changes were not folded once the lock was free; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := logs.String(); strings.Count(out, "level=WARN") != 1 || strings.Contains(out, "level=ERROR") {
		t.Errorf("a busy spell should be one warning, not an error:\n%s", out)
	}
}

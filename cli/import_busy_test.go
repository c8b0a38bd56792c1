package cli

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/koihq/koi/engine/sqlite"
)

// A database busy for longer than the busy timeout (another writer holds
// the lock) stops an import with the database's error: its lines are not
// "bad lines" (they were, one by one, each waiting out the timeout, when
// a batch fell back to single records on any error).
func TestImportStopsOnABusyDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "koi.db")
	customers := filepath.Join(dir, "customers.jsonl")
	write(t, customers, `{"id":"u1","name":"a"}
{"id":"u2","name":"b"}
`)
	mustKoi(t, "--db", db, "import", "customers", customers) // creates and migrates
	fifo := filepath.Join(dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan result)
	go func() { done <- koi(t, nil, "--db", db, "import", "customers", fifo) }()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // koi opened the file
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // koi has opened (and migrated) the database, and waits on the fifo
	d, err := sql.Open("sqlite", sqlite.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	conn, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil) // _txlock=immediate: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE customers SET name = name WHERE id = 'u1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("{\"id\":\"u3\",\"name\":\"c\"}\n{\"id\":\"u4\",\"name\":\"d\"}\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := <-done
	tx.Rollback()
	conn.Close()
	if r.code == 0 || r.code == exitPartial || strings.Contains(r.stdout, "bad line") || !strings.Contains(r.stderr, "busy") {
		t.Errorf("a busy database: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

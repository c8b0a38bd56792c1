package sqlite_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

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

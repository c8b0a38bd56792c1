package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// A database koi creates has 8 KiB pages (pageSize): set before WAL is
// turned on, which fixes a new file's page size for good.
func TestNewDatabasesHaveTheLargerPages(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := pageSizeOf(t, d.db); got != pageSize {
		t.Errorf("page size of a new database: %d, want %d", got, pageSize)
	}
	var mode string
	if err := d.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
}

// A database made before keeps its 4 KiB pages: opening it migrates and
// writes as ever, and every pooled connection agrees on the page size.
func TestOlderDatabasesKeepTheirPages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size(4096)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE scratch (a); DROP TABLE scratch`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.UpsertCustomers(ctx, []domain.Customer{{ID: "c1", Tier: "normal"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the write connection and the readers
		if got := pageSizeOf(t, d.db); got != 4096 {
			t.Errorf("page size of an older database after opening: %d, want 4096 as made", got)
		}
	}
	if c, err := d.GetCustomer(ctx, "c1"); err != nil || c.Tier != "normal" {
		t.Errorf("read back: %+v, %v", c, err)
	}
}

// docs/operating.md says how to give an older database the larger pages:
// with koi stopped, leave WAL, set the page size, VACUUM, and WAL again.
// koi then opens it as any other.
func TestAnOlderDatabaseConvertsToTheLargerPages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size(4096)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE scratch (a); DROP TABLE scratch`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpsertCustomers(ctx, []domain.Customer{{ID: "c1", Tier: "gold"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	d.Close()

	raw, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA journal_mode=DELETE`, `PRAGMA page_size=8192`, `VACUUM`, `PRAGMA journal_mode=WAL`} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	c.Close()
	raw.Close()

	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := pageSizeOf(t, d.db); got != 8192 {
		t.Errorf("page size after converting: %d, want 8192", got)
	}
	if c, err := d.GetCustomer(ctx, "c1"); err != nil || c.Tier != "gold" {
		t.Errorf("read back after converting: %+v, %v", c, err)
	}
}

func pageSizeOf(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `PRAGMA page_size`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

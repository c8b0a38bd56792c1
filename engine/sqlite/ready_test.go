package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// /readyz tells the truth: a database that can be read but not written is
// not ready, and a write it refuses is EUnavailable (a 503 with
// Retry-After over HTTP), not an internal error. query_only stands in for
// a full disk or an immutable file: SQLite refuses the write the same way.
func TestReadyWritesAndUnwritableIsUnavailable(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("a fresh database is not ready: %v", err)
	}
	if _, err := d.writeConn.ExecContext(ctx, `PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	if err := d.Ready(ctx); err == nil {
		t.Error("an unwritable database is ready")
	}
	err = d.UpsertCustomers(ctx, []domain.Customer{{ID: "c1"}}, time.Now())
	var ee *domain.Error
	if !errors.As(err, &ee) || ee.Code != domain.EUnavailable || ee.RetryAfter <= 0 {
		t.Errorf("a write to an unwritable database: %v, want EUnavailable with a Retry-After", err)
	}
	if _, err := d.writeConn.ExecContext(ctx, `PRAGMA query_only = 0`); err != nil {
		t.Fatal(err)
	}
	if err := d.Ready(ctx); err != nil {
		t.Errorf("writable again, not ready: %v", err)
	}
}

// A lock another process holds past the busy timeout is EUnavailable too,
// and only busy for readiness.
func TestABusyDatabaseIsUnavailableButReady(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koi.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, end, err := other.beginWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	if _, err := tx.ExecContext(ctx, `INSERT INTO health (id, at) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET at = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.writeConn.ExecContext(ctx, `PRAGMA busy_timeout = 50`); err != nil {
		t.Fatal(err)
	}
	err = d.UpsertCustomers(ctx, []domain.Customer{{ID: "c1"}}, time.Now())
	var ee *domain.Error
	if !errors.As(err, &ee) || ee.Code != domain.EUnavailable || ee.RetryAfter != time.Second {
		t.Errorf("a write while another holds the lock: %v, want EUnavailable, retry after 1 s", err)
	}
	if err := d.Ready(ctx); err != nil {
		t.Errorf("busy is ready: %v", err)
	}
}

// A full disk shows in the middle of a transaction too, not only at BEGIN
// or COMMIT: max_page_count makes SQLite refuse to grow the file, as a
// full disk does, and the write is EUnavailable all the same.
func TestAFullDatabaseMidStatementIsUnavailable(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var cs []domain.Customer
	for i := range 50 {
		cs = append(cs, domain.Customer{ID: fmt.Sprintf("c%02d", i), JoinedAt: time.Now()})
	}
	if err := d.UpsertCustomers(ctx, cs, time.Now()); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := d.writeConn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := d.writeConn.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	var evs []domain.Event
	for i := range 20000 {
		evs = append(evs, domain.Event{ID: fmt.Sprintf("e%05d-%s", i, strings.Repeat("x", 100)), CustomerID: "c01", Type: "visit", At: time.Now()})
	}
	_, err = d.AddEvents(ctx, evs, nil)
	var ee *domain.Error
	if !errors.As(err, &ee) || ee.Code != domain.EUnavailable || !strings.Contains(ee.Message, "disk is full") {
		t.Errorf("events into a full database: %v, want EUnavailable saying the disk is full", err)
	}
}

package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koihq/koi/engine/sqlite"
)

// A backup taken while the database is open is a database with everything
// committed, and an existing file is never overwritten.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.customers(20, 10)
	out := filepath.Join(t.TempDir(), "backup.db")
	if err := f.db.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cs, evs, err := b.Counts(ctx)
	if err != nil || cs != 20 || evs != 10 {
		t.Fatalf("backup has %d customers, %d events (%v)", cs, evs, err)
	}
	if err := f.db.Backup(ctx, out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
}

package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// Replace swaps a whole database or nothing: a build that fails leaves the
// old one as it was; one that succeeds leaves nothing of the old behind;
// and a database another process has open is not touched.
func TestReplaceIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koi.db")
	f := &fixture{t: t, dir: t.TempDir(), reg: builtin.Registry()}
	var err error
	if f.db, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	f.customers(5, 5)
	f.playbook("recall", recall)
	old := f.run(f.engine(), t0, false)
	if old.Fired == 0 {
		t.Fatal("nothing fired")
	}
	// Open here: in use.
	if err := sqlite.Replace(ctx, path, func(*sqlite.DB) error { return nil }); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("replacing an open database: %v, want ErrInUse", err)
	}
	f.db.Close()

	boom := errors.New("boom")
	err = sqlite.Replace(ctx, path, func(d *sqlite.DB) error {
		if err := d.UpsertCustomers(ctx, []domain.Customer{{ID: "new", JoinedAt: t0}}, t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed build: %v", err)
	}
	contents := func() sqlite.Contents {
		t.Helper()
		d, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		c, err := d.Contents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := contents(); c.Customers != 5 || c.Fires != old.Fired || c.Runs != 1 {
		t.Errorf("after a failed replace: %+v, want the old database whole", c)
	}
	if err := sqlite.Replace(ctx, path, func(d *sqlite.DB) error {
		return d.UpsertCustomers(ctx, []domain.Customer{{ID: "new", JoinedAt: t0}}, t0)
	}); err != nil {
		t.Fatal(err)
	}
	if c := contents(); c != (sqlite.Contents{Customers: 1}) {
		t.Errorf("after replacing: %+v, want only the new customer", c)
	}
	left, _ := filepath.Glob(path + ".replacing*")
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		d, _ := sqlite.Open(ctx, path)
		c, _ := d.Contents(ctx)
		d.Close()
		if c.Customers != 1 {
			t.Errorf("an old WAL came back: %+v", c)
		}
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Contents counts what a database holds, to tell an empty one from a pond.
type Contents struct {
	Customers, Events, Fires, Runs, Jobs int
}

// Empty reports whether the database holds nothing at all.
func (c Contents) Empty() bool { return c == Contents{} }

// Contents counts the database's customers, events, fires, runs and jobs.
func (d *DB) Contents(ctx context.Context) (Contents, error) {
	var c Contents
	for _, q := range []struct {
		table string
		n     *int
	}{{"customers", &c.Customers}, {"events", &c.Events}, {"fires", &c.Fires}, {"runs", &c.Runs}, {"jobs", &c.Jobs}} {
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM `+q.table).Scan(q.n); err != nil {
			return c, fmt.Errorf("count %s: %w", q.table, err)
		}
	}
	return c, nil
}

// ErrInUse is Replace's error when another process has the database open.
var ErrInUse = errors.New("another koi process has the database open")

// Replace puts a new database in place of the one at path, all or nothing:
// build fills a fresh database beside it, which is then renamed over it.
// Until the rename the old database is untouched, whatever happens to the
// process; after it, every table is new. No other process may have the
// database open (ErrInUse): it would go on writing into the replaced file.
func Replace(ctx context.Context, path string, build func(*DB) error, opts ...Option) error {
	lock, ok, err := tryLockFile(openLock(path))
	if err != nil {
		return fmt.Errorf("replace %s: lock: %w", path, err)
	}
	if !ok {
		return fmt.Errorf("replace %s: %w (koi serve?): stop it first", path, ErrInUse)
	}
	defer lock.Close()
	// Whatever the old database's WAL still holds goes into its file first,
	// so that no WAL of it can be applied to the new file after the rename.
	if err := checkpointTruncate(ctx, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	tmp := path + ".replacing"
	if err := removeDatabase(tmp); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	d, err := Open(ctx, tmp, opts...)
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := build(d); err != nil {
		d.Close()
		_ = removeDatabase(tmp)
		return err
	}
	if err := d.Close(); err != nil {
		_ = removeDatabase(tmp)
		return fmt.Errorf("replace %s: close the new database: %w", path, err)
	}
	// The last connection's close checkpointed the new database into its
	// file and removed its WAL; a WAL left over would be lost by the rename.
	if err := checkpointTruncate(ctx, tmp); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	// The old database's pond image goes first: it would describe the
	// new one by a version number the two may share.
	if err := os.Remove(imagePath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace %s: remove the pond image: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("replace %s: %w", path, err)
		}
	}
	for _, lock := range []string{openLock(tmp), tmp + "-compact.lock", tmp + "-dispatch.lock"} {
		_ = os.Remove(lock)
	}
	return syncDir(filepath.Dir(path))
}

// checkpointTruncate copies a database's WAL into its file and empties it,
// when there is one.
func checkpointTruncate(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	var busy, logFrames, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint %s: %w", path, ErrInUse)
	}
	return nil
}

// removeDatabase removes a database file with its WAL and shared memory.
func removeDatabase(path string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Package sqlite is koi's state store on SQLite (modernc.org/sqlite, pure Go).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/koihq/koi/engine"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ engine.Store = (*DB)(nil)

// DB is an open koi database.
type DB struct {
	db    *sql.DB
	path  string
	stmts stmtCache
	ckpt  *checkpointer
}

// pageCache is each connection's page cache: 16 MiB (negative: KiB). It
// holds the b-tree interior and index pages writes revisit; the rows a run
// touches are scattered over the whole customers table, which no cache of
// sensible size holds, and are read from the OS page cache. A larger cache
// cost more than it saved: each cached page takes an 8 KiB slot of the
// driver's allocator, and filling 64 MiB of them on a run's first batches
// page-faulted 0.4 s of a 3 s bench run (koi bench, 1M customers).
const pageCache = "-16384"

// DSN returns the connection string for path. Pragmas live in the DSN so
// that every connection the pool opens gets them, not just the first.
func DSN(path string) string {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(10000)",
		"foreign_keys(1)",
		// FULL: an acknowledged write survives power loss, not just kill -9.
		"synchronous(FULL)",
		"cache_size(" + pageCache + ")",
		// Multi-row statements keep a statement journal, to undo just the
		// statement on a constraint error; in memory it costs no syscalls.
		"temp_store(MEMORY)",
		// A backstop: the checkpointer (checkpoint.go) checkpoints when
		// writes pause, so commits rarely pay for it.
		"wal_autocheckpoint(65536)",
	} {
		q.Add("_pragma", p)
	}
	// Writers take the write lock at BEGIN, so two writers queue on the busy
	// timeout instead of failing with SQLITE_BUSY halfway through.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &DB{db: db, path: path}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	d.startCheckpointer()
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error {
	d.ckpt.close()
	d.stmts.close()
	return d.db.Close()
}

// SQL exposes the handle for tests and benchmarks that query directly.
func (d *DB) SQL() *sql.DB { return d.db }

// migrate applies the embedded migrations not yet applied, each in its own
// transaction, in order. Migrations are forward-only.
func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		if err := d.applyMigration(ctx, version, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (d *DB) applyMigration(ctx context.Context, version int, name string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile("migrations/" + name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// commit commits tx and notes it for the checkpointer.
func (d *DB) commit(tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return err
	}
	d.ckpt.kick()
	return nil
}

// bumpVersion advances the pond version inside tx and returns the new one.
func bumpVersion(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `UPDATE pond_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("bump pond version: %w", err)
	}
	return v, nil
}

// PondVersion returns the current pond version.
func (d *DB) PondVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := d.db.QueryRowContext(ctx, `SELECT version FROM pond_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read pond version: %w", err)
	}
	return v, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

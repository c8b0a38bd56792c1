// Package sqlite is koi's state store on SQLite (modernc.org/sqlite, pure Go).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// raw holds the write path's statements prepared on writeConn itself,
	// texts their texts.
	raw       rawStmts
	texts     statementTexts
	ckpt      *checkpointer
	ids       *idIndex
	compactor *compactor
	// log takes what the database reports by itself (WithLogger).
	log *slog.Logger
	// afterMergeChunk, when set (by tests), runs between the chunks of a
	// merge of event id runs, holding no lock.
	afterMergeChunk func()
	// writeSlot queues this process's writers for writeConn, the one
	// connection they all use; see beginWrite.
	writeSlot chan struct{}
	writeConn *sql.Conn
	// waiting counts this process's writers waiting for writeSlot, and
	// commits the commits of its work (commit), not its housekeeping's:
	// housekeeping yields when either moves (whileIdle).
	waiting, commits atomic.Int64
	// changes counts the pending customer changes, roughly: other
	// processes append too. It only decides when to fold early.
	changes atomic.Int64
	closed  atomic.Bool
	// open is a shared lock on the database's open lock (openLock): every
	// process that has the database open holds one, so Replace can tell
	// that none does.
	open *os.File
}

// openLock is the lock file beside the database that Open holds shared
// and Replace exclusively.
func openLock(path string) string { return path + "-open.lock" }

// Option adjusts how a database is opened.
type Option func(*options)

type options struct {
	log  *slog.Logger
	busy time.Duration
}

// defaultBusyTimeout is how long a connection waits for another's write
// lock before its statement fails as busy.
const defaultBusyTimeout = 10 * time.Second

// WithBusyTimeout sets how long a connection waits for the write lock
// another connection or process holds before failing busy (by default
// 10 s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busy = d } }

// WithLogger has what the database reports by itself (compacting event
// ids, folding changes, an unusable pond image) logged to l; by default it
// logs to slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

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
func DSN(path string) string { return dsn(path, defaultBusyTimeout) }

func dsn(path string, busy time.Duration) string {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")",
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
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{log: slog.Default(), busy: defaultBusyTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	// A Replace under way holds the lock exclusively: wait for it, and
	// open what it put in place.
	lock, err := lockShared(openLock(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: lock: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path, o.busy))
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &DB{db: db, path: path, ids: newIDIndex(), writeSlot: make(chan struct{}, 1), open: lock, log: o.log}
	d.ids.coverer = newCoverer(d, o.log)
	fail := func(err error) (*DB, error) {
		db.Close()
		lock.Close()
		return nil, err
	}
	if d.writeConn, err = db.Conn(ctx); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}
	if err := d.migrate(ctx); err != nil {
		return fail(fmt.Errorf("migrate %s: %w", path, err))
	}
	// Writes check what the schema's foreign keys would, in memory or once
	// per batch: an event's customer (AddEvents, knownOnly), a coupon's
	// (staging reads the customer in the fire's transaction), and a
	// deleted customer's rows go explicitly (DeleteCustomer). SQLite's
	// check looked each row's customer up in the customers index, random
	// over a million customers and mostly outside the page cache: without
	// it ingest wrote 30-45% more events a second (koi bench-rep, 200k
	// events at 1M customers). The other connections only read.
	if _, err := d.writeConn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}
	if err := d.loadIDIndex(ctx); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}
	if err := d.countChanges(ctx); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}

	d.startCheckpointer(o.log)
	d.startCompactor(o.log)
	return d, nil
}

// loadIDIndex reads the event id runs, their filters and the tail.
func (d *DB) loadIDIndex(ctx context.Context) error {
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("load event ids: %w", err)
	}
	defer tx.Rollback()
	d.ids.mu.Lock()
	defer d.ids.mu.Unlock()
	return d.ids.syncLocked(ctx, tx)
}

// Close closes the database. Closing it again does nothing.
func (d *DB) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	d.compactor.close()
	d.ids.coverer.close()
	d.ckpt.close()
	d.stmts.close()
	_ = d.writeConn.Raw(func(any) error { d.raw.close(); return nil })
	d.writeConn.Close()
	err := d.db.Close()
	d.open.Close()
	return err
}

// SQL exposes the database handle for what the store's methods do not
// cover: koi bench checkpoints the log and counts customers with it, and koi
// simulate lists customer ids. It is not a test hook: it changes nothing
// about how the store behaves.
func (d *DB) SQL() *sql.DB { return d.db }

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

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

// slowMigration is how long a migration takes before the log says so at
// info level.
const slowMigration = time.Second

func (d *DB) applyMigration(ctx context.Context, version int, name string) error {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer end()
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
	start := time.Now()
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, name, time.Now().UnixMilli()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Some migrations rewrite a table: an operator waiting on a start-up
	// sees which, and how long it took (a new database's dozens of quick
	// ones only at debug level).
	if d.log != nil {
		took := time.Since(start)
		level := slog.LevelDebug
		if took >= slowMigration {
			level = slog.LevelInfo
		}
		d.log.Log(ctx, level, "database migrated", "migration", name, "took", took.Round(time.Millisecond))
	}
	return nil
}

// beginWrite starts a write transaction; end rolls it back unless it was
// committed, and lets the next writer in. It must be called.
//
// This process's writers queue here, first come first served (a channel
// serves blocked senders in order), instead of polling SQLite's lock on
// the busy timeout: there, a writer that commits and begins again in a
// loop, like ingest, wins nearly every time, and the compactor waited
// seconds for its turn.
//
// They all write through one connection. SQLite empties a connection's
// page cache when another connection has written since its last
// transaction; with writes spread over the pool, every batch started
// cold and read the index pages of its foreign keys back from the OS.
func (d *DB) beginWrite(ctx context.Context) (tx *sql.Tx, end func(), err error) {
	d.waiting.Add(1)
	select {
	case d.writeSlot <- struct{}{}:
		d.waiting.Add(-1)
	case <-ctx.Done():
		d.waiting.Add(-1)
		return nil, nil, ctx.Err()
	}
	// Not cancelled with ctx: database/sql would roll back from another
	// goroutine, and a statement run on the driver connection (execRaw)
	// after that would commit on its own. Statements still get ctx; the
	// writer rolls back itself (end) when one fails.
	if tx, err = d.writeConn.BeginTx(context.WithoutCancel(ctx), nil); err != nil {
		<-d.writeSlot
		return nil, nil, unavailable(err)
	}
	var once sync.Once
	return tx, func() {
		once.Do(func() {
			_ = tx.Rollback() // after a commit, ErrTxDone
			<-d.writeSlot
		})
	}, nil
}

// execWrite runs one writing statement in its own transaction.
func (d *DB) execWrite(ctx context.Context, query string, args ...any) (_ sql.Result, err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return res, d.commit(tx)
}

// commit commits tx and notes it for the checkpointer.
func (d *DB) commit(tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	d.commits.Add(1)
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

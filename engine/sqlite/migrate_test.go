package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// databaseBefore makes a database at path with the migrations before
// version applied, as a koi of that time left it, and returns it open,
// without its background work.
func databaseBefore(t *testing.T, path string, version int) (*DB, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	raw, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{db: raw, path: path, writeSlot: make(chan struct{}, 1)}
	if old.writeConn, err = raw.Conn(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if i+1 < version {
			if err := old.applyMigration(ctx, i+1, e.Name()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return old, raw
}

// reopen closes a database databaseBefore made and opens it as koi does,
// migrating it; the test closes it at its end.
func reopen(t *testing.T, old *DB, raw *sql.DB) *DB {
	t.Helper()
	old.writeConn.Close()
	raw.Close()
	db, err := Open(context.Background(), old.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A database from before migration 0017 keeps all its fires; those of the
// last day move to fires_recent, whose keys a new fire collides with.
func TestMigrationSplitsFiresByAge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koi.db")
	old, raw := databaseBefore(t, path, 17)
	if _, err := raw.ExecContext(ctx, `INSERT INTO customers (id, tier, tags, attrs, member, joined_at, updated_at) VALUES ('c1', 'normal', '[]', '{}', 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, at := range []time.Time{now.Add(-72 * time.Hour), now.Add(-time.Hour)} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO fires (id, run_id, playbook, rule, customer_id, seq, status, at, hash)
			VALUES (?, 1, 'p', 'r', 'c1', ?, 'fired', ?, 'h')`, i+1, i+1, at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	db := reopen(t, old, raw)
	var archived, recent, both int64
	if err := db.db.QueryRowContext(ctx, `SELECT (SELECT group_concat(id) FROM fires_archive), (SELECT group_concat(id) FROM fires_recent),
		(SELECT count(*) FROM fires)`).Scan(&archived, &recent, &both); err != nil {
		t.Fatal(err)
	}
	if archived != 1 || recent != 2 || both != 2 {
		t.Fatalf("archive holds fire %d, recent %d, both %d; want 1, 2, 2", archived, recent, both)
	}
	err := db.db.QueryRowContext(ctx, `INSERT INTO fires_recent (run_id, playbook, rule, customer_id, seq, status, at, hash, written_at)
		VALUES (2, 'p', 'r', 'c1', 2, 'fired', 0, 'h', 0) ON CONFLICT DO NOTHING RETURNING id`).Scan(new(int64))
	if err != sql.ErrNoRows {
		t.Errorf("a second fire of the last day's key: %v, want a collision", err)
	}
}

// A database from before migration 0005 keeps its events, and their ids
// become the first run: sent again, each is a duplicate. The run's filter
// is built when the database opens and saved by the compactor.
func TestMigrationMakesStoredIDsTheFirstRun(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koi.db")
	old, raw := databaseBefore(t, path, 5)
	if _, err := raw.ExecContext(ctx, `INSERT INTO customers (id, tier, tags, attrs, member, joined_at, updated_at) VALUES ('c1', 'normal', '[]', '{}', 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, err := raw.ExecContext(ctx, `INSERT INTO events (id, customer_id, type, at) VALUES (?, 'c1', 'visit', ?)`,
			fmt.Sprintf("old-%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	db := reopen(t, old, raw)
	var runs, ids int64
	var saved bool
	if err := db.db.QueryRowContext(ctx, `SELECT count(*), sum(ids), bloom IS NOT NULL FROM event_id_runs`).Scan(&runs, &ids, &saved); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || ids != 300 {
		t.Fatalf("%d runs holding %d ids; want the 300 stored ids in one", runs, ids)
	}
	if err := db.CompactEventIDs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.db.QueryRowContext(ctx, `SELECT bloom IS NOT NULL FROM event_id_runs`).Scan(&saved); err != nil || !saved {
		t.Fatalf("the run's filter was not saved (%v)", err)
	}
	if err := CheckEventIDs(ctx, db, true); err != nil {
		t.Fatal(err)
	}
	evs := []domain.Event{
		{ID: "old-0", CustomerID: "c1", Type: "visit", At: time.UnixMilli(0)},
		{ID: "old-299", CustomerID: "c1", Type: "visit", At: time.UnixMilli(0)},
		{ID: "new-1", CustomerID: "c1", Type: "visit", At: time.UnixMilli(0)},
	}
	res, err := db.AddEvents(ctx, evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted[0] || res.Inserted[1] || !res.Inserted[2] {
		t.Fatalf("inserted %v, want only the new event", res.Inserted)
	}
}

// A database from before migration 0026 keeps its journey entries and
// their indexes; the status check, written as comparisons, still refuses
// what the old one refused.
func TestMigrationRewritesTheJourneyStatusCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "koi.db")
	old, raw := databaseBefore(t, path, 26)
	if _, err := raw.ExecContext(ctx, `INSERT INTO journey_state (journey, customer_id, entry, entered_at, hash, next_step, due_at, status, holdout, ended_at) VALUES
		('sop', 'c1', 1, 10, 'h', 'nudge', 20, 'entered', 0, NULL),
		('sop', 'c2', 1, 10, 'h', '', NULL, 'completed', 1, 30)`); err != nil {
		t.Fatal(err)
	}
	db := reopen(t, old, raw)
	var rows string
	if err := db.db.QueryRowContext(ctx, `SELECT group_concat(journey || ' ' || customer_id || ' ' || entry || ' ' || entered_at || ' ' || hash || ' ' ||
		next_step || ' ' || coalesce(due_at, '-') || ' ' || status || ' ' || holdout || ' ' || coalesce(ended_at, '-'), '; ')
		FROM (SELECT * FROM journey_state ORDER BY customer_id)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if want := "sop c1 1 10 h nudge 20 entered 0 -; sop c2 1 10 h  - completed 1 30"; rows != want {
		t.Errorf("journey_state holds %q, want %q", rows, want)
	}
	var indexes string
	if err := db.db.QueryRowContext(ctx, `SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'journey_state' ORDER BY name)`).Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	if want := "journey_state_customer journey_state_due"; indexes != want {
		t.Errorf("journey_state's indexes are %q, want %q", indexes, want)
	}
	// In a CHECK, SQLite builds a b-tree for an IN of three constants for
	// every row it checks; comparisons cost nothing.
	var schema string
	if err := db.db.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE name = 'journey_state'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(schema, "status IN") || !strings.Contains(schema, "status = 'entered' OR status = 'exited' OR status = 'completed'") {
		t.Errorf("journey_state's status check is not written as comparisons:\n%s", schema)
	}
	for _, bad := range []string{
		`INSERT INTO journey_state (journey, customer_id, entry, entered_at, hash, next_step, due_at, status) VALUES ('sop', 'c3', 1, 10, 'h', '', NULL, 'paused')`,
		`UPDATE journey_state SET status = 'Entered' WHERE customer_id = 'c1'`,
		`UPDATE journey_state SET status = 'exited' WHERE customer_id = 'c1'`, // still due: the pairing check
	} {
		if _, err := db.db.ExecContext(ctx, bad); err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
			t.Errorf("%s: %v, want a failed check", bad, err)
		}
	}
}

// Each migration a database gets is logged with how long it took: at
// debug level, or at info level when it is slow (a rewritten table).
func TestMigrationsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "koi.db"), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.Contains(buf.String(), "msg=\"database migrated\" migration="+e.Name()+" took=") {
			t.Errorf("no log line for migration %s in:\n%s", e.Name(), buf.String())
		}
	}
}

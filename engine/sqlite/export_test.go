package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// SetEventIDThresholds makes runs small and merges frequent, so tests see
// many of both; mergeChunk 0 keeps the default.
func SetEventIDThresholds(d *DB, flushAt, fanIn, mergeChunk int) {
	d.ids.mu.Lock()
	defer d.ids.mu.Unlock()
	d.ids.flushAt, d.ids.fanIn = flushAt, fanIn
	if mergeChunk > 0 {
		d.ids.mergeChunk = mergeChunk
	}
}

// SetMergeWait sets the size of run from which a merge waits while ingest
// is busy, and how long after a flush ingest counts as paused.
func SetMergeWait(d *DB, bigMerge int64, quiet time.Duration) {
	d.compactor.workMu.Lock()
	d.compactor.quiet = quiet
	d.compactor.workMu.Unlock()
	d.ids.mu.Lock()
	d.ids.bigMerge = bigMerge
	d.ids.mu.Unlock()
}

// SetMaxRuns sets how many runs there may be before a merge goes ahead
// whatever its size.
func SetMaxRuns(d *DB, n int) {
	d.ids.mu.Lock()
	defer d.ids.mu.Unlock()
	d.ids.maxRuns = n
}

// HoldCompactionLock takes the compaction lock of the database at path,
// as another process compacting it would, until release.
func HoldCompactionLock(path string) (release func(), err error) {
	f, ok, err := tryLockFile(path + "-compact.lock")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the compaction lock of %s is held", path)
	}
	return func() { f.Close() }, nil
}

// SaturateEventIDFilters sets every bit of every run's filter in memory, so
// that every lookup reads the runs' tables.
func SaturateEventIDFilters(d *DB) {
	d.ids.mu.Lock()
	defer d.ids.mu.Unlock()
	for _, r := range d.ids.runs {
		r.bloom.BitSet().SetAll()
		if !r.bloom.TestString("surely not an id") {
			panic("filter not saturated")
		}
	}
	if c := d.ids.cover; c != nil {
		for i := range c.filter.words {
			c.filter.words[i].Store(^uint64(0))
		}
	}
}

// SetEventIDCover sets the fewest ids a cover is sized for, so tests see
// covers fill up and be rebuilt, and how many events the process adds
// before it builds one in the background.
func SetEventIDCover(d *DB, room, after int64) {
	d.ids.mu.Lock()
	defer d.ids.mu.Unlock()
	d.ids.coverMinRoom, d.ids.coverAfter = room, after
}

// AfterMergeChunk has f run between the chunks of every merge of event id
// runs.
func AfterMergeChunk(d *DB, f func()) { d.afterMergeChunk = f }

// BuildEventIDCover builds a cover now, as the background builder does.
func BuildEventIDCover(ctx context.Context, d *DB) error { return d.ids.coverer.build(ctx) }

// EventIDCover reports how many runs the cover covers, of how many, how
// many ids it was sized for, and whether there is one.
func EventIDCover(d *DB) (covered, runs int, room int64, built bool) {
	d.ids.mu.Lock()
	defer d.ids.mu.Unlock()
	for _, r := range d.ids.runs {
		if r.covered {
			covered++
		}
	}
	if d.ids.cover != nil {
		room, built = d.ids.cover.room, true
	}
	return covered, len(d.ids.runs), room, built
}

// EventIDRuns returns the number of ids in each run, by seq.
func EventIDRuns(ctx context.Context, d *DB) ([]int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT ids FROM event_id_runs ORDER BY first_seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// CheckEventIDs verifies the event id index against the events: no id is
// stored twice; runs do not overlap; each run's table holds exactly the
// ids of its range of events, and its filter knows them all; the tail in
// memory is exactly the ids after the runs. With settled set, it also
// checks that no table of an unfinished run is left.
func CheckEventIDs(ctx context.Context, d *DB, settled bool) error {
	q := func(query string, args ...any) (int64, error) {
		var n int64
		err := d.db.QueryRowContext(ctx, query, args...).Scan(&n)
		return n, err
	}
	if dups, err := q(`SELECT count(*) - count(DISTINCT id) FROM events`); err != nil || dups != 0 {
		return fmt.Errorf("%d ids stored more than once (%v)", dups, err)
	}
	// A read transaction first, then the index: the order writers take.
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	x := d.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.syncLocked(ctx, tx); err != nil {
		return err
	}
	// Everything from here reads what the index was synced to: another
	// handle's compactor may merge and drop runs meanwhile.
	q = func(query string, args ...any) (int64, error) {
		var n int64
		err := tx.QueryRowContext(ctx, query, args...).Scan(&n)
		return n, err
	}
	prev := int64(math.MinInt64)
	for _, r := range x.runs {
		if r.first <= prev || r.last < r.first {
			return fmt.Errorf("run %d covers %d..%d after %d", r.run, r.first, r.last, prev)
		}
		prev = r.last
		n, err := q(`SELECT count(*) FROM ` + r.table())
		if err != nil || n != r.ids {
			return fmt.Errorf("run %d holds %d ids, registered %d (%v)", r.run, n, r.ids, err)
		}
		missing, err := q(`SELECT count(*) FROM events WHERE seq BETWEEN ? AND ? AND id NOT IN (SELECT id FROM `+r.table()+`)`, r.first, r.last)
		if err != nil || missing != 0 {
			return fmt.Errorf("run %d misses %d ids of its events (%v)", r.run, missing, err)
		}
		extra, err := q(`SELECT count(*) FROM `+r.table()+` WHERE id NOT IN (SELECT id FROM events WHERE seq BETWEEN ? AND ?)`, r.first, r.last)
		if err != nil || extra != 0 {
			return fmt.Errorf("run %d holds %d ids of no event in its range (%v)", r.run, extra, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM `+r.table())
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !r.bloom.TestString(id) {
				rows.Close()
				return fmt.Errorf("the filter of run %d does not know %q", r.run, id)
			}
			if r.covered && !x.cover.filter.test(x.cover.filter.hash(id)) {
				rows.Close()
				return fmt.Errorf("run %d is covered but the cover does not know %q", r.run, id)
			}
		}
		rows.Close()
	}
	tail, err := q(`SELECT count(*) FROM events WHERE seq > ?`, x.covered())
	if err != nil || tail != int64(len(x.tail)) {
		return fmt.Errorf("%d events after the runs, %d ids in the tail (%v)", tail, len(x.tail), err)
	}
	if settled {
		tables, err := d.runTables(ctx)
		if err != nil {
			return err
		}
		if len(tables) != len(x.runs) {
			return fmt.Errorf("%d run tables for %d runs: %v", len(tables), len(x.runs), tables)
		}
	}
	return nil
}

// OutcomeFiresQuery is the outcome report's query, for its plan.
const OutcomeFiresQuery = outcomeFiresQuery

// StopHousekeeping stops the checkpointer, for tests that fold or archive
// themselves.
func StopHousekeeping(d *DB) { d.ckpt.close() }

// FoldWhileIdle folds as the checkpointer does in a pause, calling
// between after each chunk that folded something, and reports whether it
// yielded to other writers.
func FoldWhileIdle(ctx context.Context, d *DB, between func()) (bool, error) {
	return d.whileIdle(func() (int, error) {
		n, err := d.foldChunk(ctx)
		if n > 0 && between != nil {
			between()
		}
		return n, err
	})
}

// TakeWriteSlot takes the write lock of this process's writers, as a
// writer does, until release.
func TakeWriteSlot(d *DB) (release func()) {
	d.writeSlot <- struct{}{}
	return func() { <-d.writeSlot }
}

// WritersWaiting returns how many writers wait for the write slot.
func WritersWaiting(d *DB) int64 { return d.waiting.Load() }

// PretendWriterWaits counts one more writer waiting for the write slot,
// until done: what housekeeping sees when one does.
func PretendWriterWaits(d *DB) (done func()) {
	d.waiting.Add(1)
	return func() { d.waiting.Add(-1) }
}

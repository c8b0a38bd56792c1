package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// Event ids are unique without a unique index (migration 0005 says why).
// An id is stored if it is in the tail, the ids of the events after the
// last run, which idIndex keeps in memory; or in one of the runs, sorted
// tables of the ids of a range of events, each with a Bloom filter in
// memory. The compactor (compactor.go) turns the tail into runs and merges
// runs.
//
// SQLite stays the truth: the tail is read back from events, and the runs
// and their filters from their tables, whenever another connection may
// have changed them. Writers take SQLite's write lock before idIndex's
// lock, so the index a writer checks against is the one its transaction
// sees.
//
// Events must be written through AddEvents: a row inserted by hand is not
// checked for a duplicate id. Whatever deletes events must also delete
// their ids from the runs and advance event_id_state's generation and
// forgets in the same transaction; otherwise ingesting those ids again
// would be refused as duplicates.

// bloomBitsPerID and bloomHashes size each run's filter: about 0.3% false
// positives, 1.5 bytes per id (15 MB at ten million). With twenty-odd
// runs, a new id then reads a run about once in twenty events. Every
// filter uses the same number of hashes, so an id's bit locations are
// computed once for all runs.
const (
	bloomBitsPerID = 12
	bloomHashes    = 7
)

// idIndex is the in-memory half of the event id index.
type idIndex struct {
	mu sync.Mutex
	// generation is event_id_state.generation as this index reflects it;
	// -1 when it must be reloaded.
	generation int64
	runs       []*idRun // by seq
	tail       map[string]int64
	// lastSeq is the highest event seq this index has seen; storedMax the
	// highest stored when it last synced, highSeq the highest deleted
	// events had (event_id_state.high_seq).
	lastSeq, storedMax, highSeq int64
	// cover, when built, is a filter over the ids of the runs marked
	// covered (eventids_cover.go); coverer builds it, asked once the
	// process has added coverAfter events (added counts them).
	cover      *idCover
	coverer    *coverer
	added      int64
	coverAfter int64
	// coverMinRoom is the fewest ids a cover is sized for.
	coverMinRoom int64
	// coverAsked is set once the cover was asked for (added reached
	// coverAfter, or the runs were many).
	coverAsked bool
	// flushAt is the tail size at which the compactor writes a run, fanIn
	// how many runs of one size it merges, mergeChunk how many ids one
	// transaction of a merge copies, and maxRuns how many runs there may be
	// before any merge goes ahead; tests make them small. A merge into a
	// run of more than bigMerge ids waits while ingest is busy
	// (compactor.go). Guarded by mu like the rest.
	flushAt, fanIn, mergeChunk, maxRuns int
	bigMerge                            int64
}

// idRun is one run: the ids of the events with seq in [first, last].
type idRun struct {
	run         int64
	first, last int64
	ids         int64
	bloom       *bloom.BloomFilter
	// unsaved is set when the filter was built at open because the run
	// had none stored (a run made by migration); the compactor saves it.
	unsaved bool
	// covered is set when the index's cover holds the run's ids.
	covered bool
}

func (r *idRun) table() string { return runTable(r.run) }

func runTable(run int64) string { return "event_ids_" + strconv.FormatInt(run, 10) }

// Default thresholds: a run is written every 65,536 new events, which
// takes the compactor about a fifth of a second; eight runs of one size
// are merged, so an id is copied about three times on its way to a run of
// ten million, and at rest there are about twenty runs (up to
// defaultMaxRuns while ingest is busy: compactor.go); a merge holds the
// write lock for 65,536 ids at a time, about a tenth of a second.
//
// Compaction's writes wait for the write lock like ingest's, so they cut
// into sustained ingest: with four runs merged at a time (four copies of
// each id), 2M events ingested into a 10M-event pond ran at 46,500/s;
// with eight, 62,000-68,000/s; with no compaction at all, 91,000/s.
const (
	defaultFlushAt    = 1 << 16
	defaultFanIn      = 8
	defaultMergeChunk = 1 << 16
)

func newIDIndex() *idIndex {
	return &idIndex{generation: -1, tail: map[string]int64{}, flushAt: defaultFlushAt, fanIn: defaultFanIn, mergeChunk: defaultMergeChunk,
		maxRuns: defaultMaxRuns, bigMerge: defaultBigMerge, coverMinRoom: 1 << 16, coverAfter: defaultCoverAfter}
}

// covered is the last seq the runs hold.
func (x *idIndex) covered() int64 {
	if len(x.runs) == 0 {
		return 0
	}
	return x.runs[len(x.runs)-1].last
}

// querier is what the index reads through: a transaction or the pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// syncLocked brings the index up to what q sees: the runs if their
// generation moved, and the tail if events were added by another
// connection. x.mu must be held.
func (x *idIndex) syncLocked(ctx context.Context, q querier) error {
	var gen, maxSeq, highSeq int64
	if err := q.QueryRowContext(ctx, `SELECT generation, high_seq, (SELECT coalesce(max(seq), 0) FROM events)
		FROM event_id_state WHERE id = 1`).Scan(&gen, &highSeq, &maxSeq); err != nil {
		return fmt.Errorf("read event id state: %w", err)
	}
	if gen != x.generation {
		if err := x.loadRuns(ctx, q); err != nil {
			x.generation = -1
			return err
		}
		x.tail = map[string]int64{}
		x.lastSeq = x.covered()
		x.generation = gen
	}
	if maxSeq > x.lastSeq {
		if err := x.readTail(ctx, q, maxSeq); err != nil {
			x.generation = -1
			return err
		}
	}
	x.storedMax, x.highSeq = maxSeq, highSeq
	return nil
}

// loadRuns reads the list of runs, keeping the filters it already has.
func (x *idIndex) loadRuns(ctx context.Context, q querier) error {
	have := map[int64]*idRun{}
	for _, r := range x.runs {
		have[r.run] = r
	}
	runs, err := readRunList(ctx, q)
	if err != nil {
		return err
	}
	for i, r := range runs {
		if old, ok := have[r.run]; ok && old.ids == r.ids {
			runs[i] = old
		}
	}
	for _, r := range runs {
		if r.bloom == nil {
			if err := r.loadBloom(ctx, q); err != nil {
				return err
			}
		}
	}
	x.runs = runs
	x.markCoveredLocked()
	return nil
}

// readRunList lists the registered runs.
func readRunList(ctx context.Context, q querier) ([]*idRun, error) {
	rows, err := q.QueryContext(ctx, `SELECT run, first_seq, last_seq, ids FROM event_id_runs ORDER BY first_seq`)
	if err != nil {
		return nil, fmt.Errorf("read event id runs: %w", err)
	}
	defer rows.Close()
	var runs []*idRun
	for rows.Next() {
		r := &idRun{}
		if err := rows.Scan(&r.run, &r.first, &r.last, &r.ids); err != nil {
			return nil, fmt.Errorf("read event id runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read event id runs: %w", err)
	}
	return runs, nil
}

// loadBloom reads the run's stored filter, or builds it from the run.
func (r *idRun) loadBloom(ctx context.Context, q querier) error {
	var blob []byte
	if err := q.QueryRowContext(ctx, `SELECT bloom FROM event_id_runs WHERE run = ?`, r.run).Scan(&blob); err != nil {
		return fmt.Errorf("read filter of event id run %d: %w", r.run, err)
	}
	if blob != nil {
		f := &bloom.BloomFilter{}
		if err := f.UnmarshalBinary(blob); err != nil {
			return fmt.Errorf("decode filter of event id run %d: %w", r.run, err)
		}
		r.bloom = f
		return nil
	}
	f := newRunBloom(r.ids)
	rows, err := q.QueryContext(ctx, `SELECT id FROM `+r.table())
	if err != nil {
		return fmt.Errorf("build filter of event id run %d: %w", r.run, err)
	}
	defer rows.Close()
	var id sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("build filter of event id run %d: %w", r.run, err)
		}
		f.Add(id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("build filter of event id run %d: %w", r.run, err)
	}
	r.bloom, r.unsaved = f, true
	return nil
}

func newRunBloom(ids int64) *bloom.BloomFilter {
	return bloom.New(uint(max(ids, 64))*bloomBitsPerID, bloomHashes)
}

// readTail adds the ids of the events after lastSeq, up to maxSeq.
func (x *idIndex) readTail(ctx context.Context, q querier, maxSeq int64) error {
	rows, err := q.QueryContext(ctx, `SELECT seq, id FROM events WHERE seq > ? AND seq <= ?`, x.lastSeq, maxSeq)
	if err != nil {
		return fmt.Errorf("read recent event ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var id string
		if err := rows.Scan(&seq, &id); err != nil {
			return fmt.Errorf("read recent event ids: %w", err)
		}
		x.tail[id] = seq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read recent event ids: %w", err)
	}
	x.lastSeq = maxSeq
	return nil
}

// hasLocked reports whether an event with this id is stored, as q sees
// it. x.mu must be held and the index synced to q.
func (x *idIndex) hasLocked(ctx context.Context, q querier, id string) (bool, error) {
	if _, ok := x.tail[id]; ok {
		return true, nil
	}
	if len(x.runs) == 0 {
		return false, nil
	}
	// An id the cover does not know is in none of the runs it covers.
	skipCovered := x.cover != nil && !x.cover.filter.test(x.cover.filter.hash(id))
	var locs []uint64
	// Newest first: a duplicate is usually a retry of a recent event.
	for i := len(x.runs) - 1; i >= 0; i-- {
		r := x.runs[i]
		if skipCovered && r.covered {
			continue
		}
		if locs == nil {
			locs = bloom.Locations([]byte(id), bloomHashes)
		}
		if r.bloom.K() == bloomHashes {
			if !r.bloom.TestLocations(locs) {
				continue
			}
		} else if !r.bloom.TestString(id) {
			continue
		}
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM `+r.table()+` WHERE id = ?`, id).Scan(&one)
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("look up event id in run %d: %w", r.run, err)
		}
	}
	return false, nil
}

// addedLocked notes events committed by this connection. x.mu must be
// held, and the events' transaction committed.
func (x *idIndex) addedLocked(ids map[string]int64) {
	for id, seq := range ids {
		x.tail[id] = seq
		x.lastSeq = max(x.lastSeq, seq)
	}
}

// tailLen is how many ids wait in memory for the next run.
func (x *idIndex) tailLen() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.tail)
}

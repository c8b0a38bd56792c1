package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// compactor writes the tail of event ids into runs and merges runs, in the
// background (see eventids.go). Across processes sharing a database only
// the one holding the compaction lock (a file lock next to the database)
// compacts; the others pick the new runs up when they next write.
//
// Building a run commits in chunks, so ingest is never held up for long;
// the run's table is invisible until one short transaction registers it,
// replacing the runs it merged. A build interrupted by a crash leaves an
// unregistered table, which the next holder of the lock drops.
type compactor struct {
	d      *DB
	log    *slog.Logger
	kickc  chan struct{}
	stop   chan struct{}
	cancel context.CancelFunc
	done   sync.WaitGroup

	workMu sync.Mutex // one compaction at a time: the loop's or CompactEventIDs'
	lock   *os.File   // the compaction lock, once held
	// lastFlush is when this compactor last wrote the tail into a run
	// (flushTail); guarded by workMu, which every flush holds.
	lastFlush time.Time
	// quiet is how long after a flush ingest counts as paused.
	quiet time.Duration
}

// defaultMaxRuns bounds the runs: beyond it, the smallest neighbours are
// merged even when their sizes differ, and big merges no longer wait.
// maxMergeInputs bounds one merge, far below SQLite's 500 terms of a
// compound SELECT.
const (
	defaultMaxRuns = 96
	maxMergeInputs = 16
)

// A merge whose run would hold more than defaultBigMerge ids waits while
// ingest is busy, until no tail was flushed for defaultMergeQuiet (or the
// runs pass maxRuns). Such a merge copies millions of ids, a 65,536-id write
// transaction at a time, for 10-15 s at ten million events: ingest,
// which needs the same write lock, ran at 20-45,000 events/s meanwhile
// instead of 100-125,000, and five minutes of it at 96,580/s instead of
// 120,184/s (150 s of koi serve at 1M customers). Once the cover holds
// the runs (eventids_cover.go), their number barely costs a new id; it
// costs a duplicate or a false positive a test per run, and a process
// that has not built its cover yet a filter test per run, which is why
// a process opening many runs builds its cover early (coverRunsAtOnce).
const (
	defaultBigMerge   = 1 << 21
	defaultMergeQuiet = 30 * time.Second
)

func (d *DB) startCompactor(log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	// As if a tail had just been flushed: a process that starts while
	// ingest goes on (a restart) lets the big merges that waited wait on.
	c := &compactor{d: d, log: log, kickc: make(chan struct{}, 1), stop: make(chan struct{}), cancel: cancel,
		quiet: defaultMergeQuiet, lastFlush: time.Now()}
	d.compactor = c
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		var failures int
		var retry, quiet <-chan time.Time
		for {
			select {
			case <-c.stop:
				return
			case <-c.kickc:
				if retry != nil {
					continue // backing off after a failure
				}
			case <-retry:
				retry = nil
			case <-quiet:
				quiet = nil
				if retry != nil {
					continue // the retry after a failure comes first
				}
			}
			waiting, err := c.work(ctx, false)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				wait := min(time.Second<<min(failures-1, 6), time.Minute)
				c.log.Error("compacting event ids failed; ingest goes on, ids wait in memory", "err", err, "retry_in", wait)
				retry = time.After(wait)
				continue
			}
			failures = 0
			if waiting > 0 && quiet == nil {
				// A big merge waits for ingest to pause: look again
				// then, kicked or not.
				quiet = time.After(waiting)
			}
		}
	}()
	c.kick() // leftovers: a tail past the threshold, filters to save, debris
}

// kick asks for a compaction; it never blocks.
func (c *compactor) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

func (c *compactor) close() {
	close(c.stop)
	c.cancel()
	c.done.Wait()
	c.workMu.Lock()
	defer c.workMu.Unlock()
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// CompactEventIDs does now what the background compactor would do: write
// the tail of event ids into a run if it is long enough, and merge runs,
// until nothing is left to do. It does nothing when another process holds
// the compaction lock.
// Big merges do not wait for ingest to pause here.
func (d *DB) CompactEventIDs(ctx context.Context) error {
	_, err := d.compactor.work(ctx, true)
	return err
}

// work compacts until nothing is left to do now. Unless all, a big merge
// waits while ingest is busy: waiting is then how long until it may go.
func (c *compactor) work(ctx context.Context, all bool) (waiting time.Duration, err error) {
	c.workMu.Lock()
	defer c.workMu.Unlock()
	if c.lock == nil {
		f, ok, err := tryLockFile(c.d.path + "-compact.lock")
		if err != nil {
			return 0, fmt.Errorf("take compaction lock: %w", err)
		}
		if !ok {
			return 0, nil
		}
		c.lock = f
		if err := c.d.dropUnregisteredRuns(ctx); err != nil {
			return 0, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		busy := false
		if !all {
			waiting = c.quiet - time.Since(c.lastFlush)
			busy = waiting > 0
		}
		p, err := c.d.planCompaction(ctx, busy)
		if err != nil {
			return 0, err
		}
		switch {
		case len(p.save) > 0:
			err = c.d.saveBlooms(ctx, p.save)
		case p.flush:
			err = c.d.flushTail(ctx, p)
		case len(p.merge) > 0:
			err = c.d.mergeRuns(ctx, p)
		default:
			if !p.waiting {
				waiting = 0
			}
			return waiting, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// compactionPlan is the next step of compaction.
type compactionPlan struct {
	save    []*idRun // runs whose filters to store
	flush   bool     // write the tail, seq in (lo, hi], into a run
	lo, hi  int64
	tail    []string // the tail's ids when flush is set
	merge   []*idRun // adjacent runs to merge, oldest first
	waiting bool     // a big merge waits for ingest to pause
	forgets int64    // event_id_state.forgets when planned
	// flushAt and chunk are the index's thresholds when planned, read
	// under its lock: a merge consults them long after.
	flushAt, chunk int
}

// planCompaction plans the next step; busy holds big merges back.
func (d *DB) planCompaction(ctx context.Context, busy bool) (compactionPlan, error) {
	var p compactionPlan
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return p, fmt.Errorf("plan compaction: %w", err)
	}
	defer tx.Rollback()
	x := d.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.syncLocked(ctx, tx); err != nil {
		return p, err
	}
	p.flushAt, p.chunk = x.flushAt, x.mergeChunk
	if err := tx.QueryRowContext(ctx, `SELECT forgets FROM event_id_state WHERE id = 1`).Scan(&p.forgets); err != nil {
		return p, fmt.Errorf("plan compaction: %w", err)
	}
	for _, r := range x.runs {
		if r.unsaved {
			p.save = append(p.save, r)
		}
	}
	if len(p.save) > 0 {
		return p, nil
	}
	if len(x.tail) >= x.flushAt {
		p.flush, p.lo, p.hi = true, x.covered(), x.lastSeq
		// The tail is exactly the ids of the events in (lo, hi]: the
		// index is synced, and a writer adds its ids before it lets go of
		// x.mu. Copying them saves the flush reading those events again.
		p.tail = make([]string, 0, len(x.tail))
		for id := range x.tail {
			p.tail = append(p.tail, id)
		}
		return p, nil
	}
	p.merge, p.waiting = x.mergeCandidate(busy)
	return p, nil
}

// mergeCandidate picks the runs to merge. A merge is the runs from some
// run i to some run j where run i is at most (fanIn-1) times smaller than
// the runs after it up to j together: fanIn runs of one size merge, and a
// large run waits until the runs after it have grown to about its size.
// Of the merges there are, the one with the fewest ids goes first (the
// oldest of equals). Runs thus shrink from old to new, and an id is
// rewritten about once per factor of fanIn in size, as in a base-fanIn
// counter; when runs of one size pile up (while big merges wait, below),
// they merge fanIn at a time, oldest first, instead of each merge taking
// in the one made before it.
//
// While busy, a merge into a run of more than x.bigMerge ids waits
// (waiting reports one does), and smaller ones go on, until there are
// more than maxRuns runs.
//
// Past maxRuns, when no merge follows the rule (uneven flushes), the
// fanIn adjacent runs with the fewest ids merge.
func (x *idIndex) mergeCandidate(busy bool) (merge []*idRun, waiting bool) {
	n := len(x.runs)
	if n > x.maxRuns {
		busy = false // too many runs: the big merges wait no longer
	}
	from, to, least := -1, -1, int64(-1)
	for end := 2; end <= n; end++ {
		i, total, held := x.oldestToMerge(x.runs[:end], busy)
		waiting = waiting || held
		if i >= 0 && (least < 0 || total < least) {
			from, to, least = i, end, total
		}
	}
	if from >= 0 {
		return append([]*idRun(nil), x.runs[from:to]...), waiting
	}
	if n <= x.maxRuns {
		return nil, waiting
	}
	group := min(x.fanIn, n)
	best, fewest := 0, int64(-1)
	for i := 0; i+group <= n; i++ {
		var sum int64
		for _, r := range x.runs[i : i+group] {
			sum += r.ids
		}
		if fewest < 0 || sum < fewest {
			best, fewest = i, sum
		}
	}
	return append([]*idRun(nil), x.runs[best:best+group]...), false
}

// oldestToMerge returns the oldest run i that merges with all the runs
// after it (mergeCandidate's rule), -1 for none, and the ids of that
// merge; held reports a merge that busy made wait.
func (x *idIndex) oldestToMerge(runs []*idRun, busy bool) (pick int, total int64, held bool) {
	n := len(runs)
	var newer int64
	pick = -1
	for i := n - 2; i >= max(0, n-maxMergeInputs); i-- {
		newer += runs[i+1].ids
		if runs[i].ids*int64(x.fanIn-1) <= newer {
			if busy && runs[i].ids+newer > x.bigMerge {
				held = true // and so would every older pick
				continue
			}
			pick, total = i, runs[i].ids+newer
		}
	}
	return pick, total, held
}

// saveBlooms stores filters built at open.
func (d *DB) saveBlooms(ctx context.Context, runs []*idRun) error {
	for _, r := range runs {
		blob, err := r.bloom.MarshalBinary()
		if err != nil {
			return fmt.Errorf("encode filter of event id run %d: %w", r.run, err)
		}
		if _, err := d.execWrite(ctx, `UPDATE event_id_runs SET bloom = ? WHERE run = ? AND bloom IS NULL`, blob, r.run); err != nil {
			return fmt.Errorf("save filter of event id run %d: %w", r.run, err)
		}
		d.ids.mu.Lock()
		r.unsaved = false
		d.ids.mu.Unlock()
	}
	return nil
}

// flushTail writes the tail's ids, the events with seq in (p.lo, p.hi],
// into a new run in one transaction. They come from memory (p.tail),
// sorted and encoded before the write lock is taken, so the write only
// appends them: reading the events back and sorting them in SQLite held
// the lock more than twice as long (1.1 µs an id; koi serve under
// sustained ingest at 1M customers).
func (d *DB) flushTail(ctx context.Context, p compactionPlan) error {
	start := time.Now()
	slices.Sort(p.tail)
	f := newRunBloom(int64(len(p.tail)))
	for _, id := range p.tail {
		f.AddString(id)
	}
	cover := d.ids.coverAdd(p.tail)
	num, err := d.nextRunNumber(ctx)
	if err != nil {
		return err
	}
	r := &idRun{run: num, first: p.lo + 1, last: p.hi, bloom: f}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("flush event ids: %w", err)
	}
	defer end()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE `+r.table()+` (id TEXT PRIMARY KEY) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("create %s: %w", r.table(), err)
	}
	// In key order, so each row goes to the end of the table; one
	// statement prepared for the full chunks, parsed once.
	var full *sql.Stmt
	args := make([]any, 0, flushRowsPerStatement)
	for rest := p.tail; len(rest) > 0; {
		n := min(len(rest), flushRowsPerStatement)
		args = args[:0]
		for _, id := range rest[:n] {
			args = append(args, id)
		}
		rest = rest[n:]
		query := `INSERT INTO ` + r.table() + ` (id) VALUES ` + strings.Repeat("(?),", n-1) + `(?)`
		if n == flushRowsPerStatement && full == nil {
			if full, err = tx.PrepareContext(ctx, query); err != nil {
				return fmt.Errorf("write %s: %w", r.table(), err)
			}
			defer full.Close()
		}
		if n == flushRowsPerStatement {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", r.table(), err)
		}
	}
	r.ids = int64(len(p.tail))
	ok, err := d.registerRun(ctx, tx, r, nil, cover, p.forgets)
	if err != nil || !ok {
		return err
	}
	d.compactor.lastFlush = time.Now()
	d.compactor.log.Debug("event ids flushed into a run", "run", r.run, "ids", r.ids, "took", time.Since(start))
	return nil
}

// flushRowsPerStatement is how many ids one statement of a flush inserts.
const flushRowsPerStatement = 1000

// addToBloom adds the ids query returns to f.
func (d *DB) addToBloom(ctx context.Context, f *bloom.BloomFilter, query string, args ...any) error {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return err
		}
		f.Add(id)
	}
	return rows.Err()
}

// mergeRuns merges p.merge into one run. The new table is written in
// chunks, each its own transaction, so ingest waits for one chunk at most;
// it becomes the run only when registered. While it builds, the tail may
// grow past twice the threshold; it is flushed in between, so memory stays
// bounded however long a large merge takes.
func (d *DB) mergeRuns(ctx context.Context, p compactionPlan) (err error) {
	start := time.Now()
	ins := p.merge
	num, err := d.nextRunNumber(ctx)
	if err != nil {
		return err
	}
	r := &idRun{run: num, first: ins[0].first, last: ins[len(ins)-1].last}
	var total int64
	arms := make([]string, len(ins))
	for i, in := range ins {
		total += in.ids
		arms[i] = `SELECT id FROM ` + in.table() + ` WHERE id > ?1`
	}
	r.bloom = newRunBloom(total)
	if _, err := d.execWrite(ctx, `CREATE TABLE `+r.table()+` (id TEXT PRIMARY KEY) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("create %s: %w", r.table(), err)
	}
	defer func() {
		if err != nil {
			d.dropRunTable(r.table())
		}
	}()
	// The runs are sorted by id; SQLite merges them (MERGE (UNION ALL) in
	// the query plan) and appends to the new table in order.
	copyChunk := `INSERT OR IGNORE INTO ` + r.table() + ` (id) ` + strings.Join(arms, ` UNION ALL `) + ` ORDER BY id LIMIT ?2`
	bound := ""
	for {
		next, err := d.mergeChunk(ctx, r, copyChunk, bound, p.chunk)
		if err != nil {
			return err
		}
		if next == bound {
			break
		}
		bound = next
		if d.afterMergeChunk != nil {
			d.afterMergeChunk()
		}
		if d.ids.tailLen() >= 2*p.flushAt {
			fp, err := d.planCompaction(ctx, true)
			if err != nil {
				return err
			}
			if fp.flush {
				if err := d.flushTail(ctx, fp); err != nil {
					return err
				}
			}
		}
	}
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM `+r.table()).Scan(&r.ids); err != nil {
		return fmt.Errorf("count %s: %w", r.table(), err)
	}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("register event id run %d: %w", r.run, err)
	}
	defer end()
	ok, err := d.registerRun(ctx, tx, r, ins, nil, p.forgets)
	if err != nil {
		return err // the deferred drop runs after end
	}
	if !ok {
		// Void: ids were forgotten or the runs changed meanwhile. The
		// drop needs the write slot this transaction holds.
		end()
		d.dropRunTable(r.table())
		return nil
	}
	d.compactor.log.Debug("event id runs merged", "run", r.run, "runs", len(ins), "ids", r.ids, "took", time.Since(start))
	return nil
}

// mergeChunk copies the next chunk ids after bound into the merged table, adds
// them to its filter, and returns the new bound: the last id copied.
func (d *DB) mergeChunk(ctx context.Context, r *idRun, copyChunk, bound string, chunk int) (string, error) {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", r.table(), err)
	}
	defer end()
	if _, err := tx.ExecContext(ctx, copyChunk, bound, chunk); err != nil {
		return "", fmt.Errorf("write %s: %w", r.table(), err)
	}
	var next sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM `+r.table()).Scan(&next); err != nil {
		return "", fmt.Errorf("write %s: %w", r.table(), err)
	}
	if err := d.commit(tx); err != nil {
		return "", fmt.Errorf("write %s: %w", r.table(), err)
	}
	if next.String != bound {
		if err := d.addToBloom(ctx, r.bloom, `SELECT id FROM `+r.table()+` WHERE id > ?`, bound); err != nil {
			return "", fmt.Errorf("read %s: %w", r.table(), err)
		}
	}
	return next.String, nil
}

// registerRun makes the run r live in tx, replacing the runs it merged,
// and commits. If ids were forgotten since the plan, or the runs it
// replaces or follows changed, the run is void: it reports false, and the
// next plan starts over.
// A flushed run's ids went into cover, when not nil (idIndex.coverAdd).
func (d *DB) registerRun(ctx context.Context, tx *sql.Tx, r *idRun, merged []*idRun, cover *idCover, forgets int64) (bool, error) {
	blob, err := r.bloom.MarshalBinary()
	if err != nil {
		return false, fmt.Errorf("encode filter of event id run %d: %w", r.run, err)
	}
	var nowForgets, present, overlap int64
	nums := make([]any, len(merged))
	for i, m := range merged {
		nums[i] = m.run
	}
	inList := "NULL"
	if len(nums) > 0 {
		inList = strings.TrimSuffix(strings.Repeat("?,", len(nums)), ",")
	}
	// overlap counts the runs reaching into a flushed range; for a merge,
	// runs flushed after its inputs are expected.
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT forgets FROM event_id_state WHERE id = 1),
		(SELECT count(*) FROM event_id_runs WHERE run IN (`+inList+`)),
		(SELECT count(*) FROM event_id_runs WHERE last_seq >= ?)`, append(nums, r.first)...).Scan(&nowForgets, &present, &overlap); err != nil {
		return false, fmt.Errorf("register event id run %d: %w", r.run, err)
	}
	if nowForgets != forgets || present != int64(len(merged)) || (len(merged) == 0 && overlap > 0) {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_id_runs (run, first_seq, last_seq, ids, bloom) VALUES (?, ?, ?, ?, ?)`,
		r.run, r.first, r.last, r.ids, blob); err != nil {
		return false, fmt.Errorf("register event id run %d: %w", r.run, err)
	}
	for _, m := range merged {
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_id_runs WHERE run = ?`, m.run); err != nil {
			return false, fmt.Errorf("retire event id run %d: %w", m.run, err)
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+m.table()); err != nil {
			return false, fmt.Errorf("retire event id run %d: %w", m.run, err)
		}
	}
	var gen int64
	if err := tx.QueryRowContext(ctx, `UPDATE event_id_state SET generation = generation + 1 WHERE id = 1 RETURNING generation`).Scan(&gen); err != nil {
		return false, fmt.Errorf("register event id run %d: %w", r.run, err)
	}
	x := d.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := d.commit(tx); err != nil {
		return false, fmt.Errorf("register event id run %d: %w", r.run, err)
	}
	if x.generation != gen-1 {
		x.generation = -1 // the next writer reloads
		return true, nil
	}
	x.generation = gen
	x.runs = spliceRuns(x.runs, r, merged)
	if len(merged) == 0 {
		for id, seq := range x.tail {
			if seq <= r.last {
				delete(x.tail, id)
			}
		}
		x.coverFlushedLocked(cover, r)
	}
	x.markCoveredLocked()
	return true, nil
}

// spliceRuns returns runs with merged replaced by r, or r appended.
func spliceRuns(runs []*idRun, r *idRun, merged []*idRun) []*idRun {
	if len(merged) == 0 {
		return append(runs, r)
	}
	out := make([]*idRun, 0, len(runs)-len(merged)+1)
	for _, old := range runs {
		switch old {
		case merged[0]:
			out = append(out, r)
		default:
			if !containsRun(merged, old) {
				out = append(out, old)
			}
		}
	}
	return out
}

func containsRun(runs []*idRun, r *idRun) bool {
	for _, x := range runs {
		if x == r {
			return true
		}
	}
	return false
}

// nextRunNumber is one past any run or run table, registered or not.
func (d *DB) nextRunNumber(ctx context.Context) (int64, error) {
	tables, err := d.runTables(ctx)
	if err != nil {
		return 0, err
	}
	var top int64
	if err := d.db.QueryRowContext(ctx, `SELECT coalesce(max(run), 0) FROM event_id_runs`).Scan(&top); err != nil {
		return 0, fmt.Errorf("number event id run: %w", err)
	}
	for n := range tables {
		top = max(top, n)
	}
	return top + 1, nil
}

// runTables lists the run tables by number.
func (d *DB) runTables(ctx context.Context) (map[int64]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'event\_ids\_%' ESCAPE '\'`)
	if err != nil {
		return nil, fmt.Errorf("list event id runs: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list event id runs: %w", err)
		}
		if n, err := strconv.ParseInt(strings.TrimPrefix(name, "event_ids_"), 10, 64); err == nil {
			out[n] = name
		}
	}
	return out, rows.Err()
}

// dropUnregisteredRuns drops the tables of runs whose build did not
// finish: a crash, or a run made void.
func (d *DB) dropUnregisteredRuns(ctx context.Context) error {
	tables, err := d.runTables(ctx)
	if err != nil {
		return err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT run FROM event_id_runs`)
	if err != nil {
		return fmt.Errorf("list event id runs: %w", err)
	}
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("list event id runs: %w", err)
		}
		delete(tables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list event id runs: %w", err)
	}
	for _, name := range tables {
		if _, err := d.execWrite(ctx, `DROP TABLE `+name); err != nil {
			return fmt.Errorf("drop unfinished %s: %w", name, err)
		}
	}
	return nil
}

// dropRunTable drops a run table that will not be registered. It is
// best effort: what stays is dropped when the compaction lock is next
// taken.
func (d *DB) dropRunTable(name string) {
	if _, err := d.execWrite(context.Background(), `DROP TABLE IF EXISTS `+name); err != nil && !errors.Is(err, context.Canceled) {
		d.compactor.log.Warn("dropping an unfinished event id run failed", "table", name, "err", err)
	}
}

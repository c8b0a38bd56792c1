package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A new event id is looked for in the tail and then in every run, each
// with its own filter: twenty-odd filter tests an event, and a read of a
// run for each false positive of any of them (a third of the write
// transaction's time under sustained ingest at 1M customers). A cover is
// one more filter, over the ids of many runs at once: an id it does not
// know is in none of those runs, so a new id costs one test. Only ids the
// cover lets through are tested run by run, as before.
//
// The cover lives in memory only. A process builds it in the background
// once it has ingested a few hundred thousand events (one that only
// evaluates, or imports a file, never pays for it), from
// the run tables as one read transaction sees them, and again, twice as
// larger, when the ids flushed since have filled it. Which runs it covers
// is known by seq: the ids of a run are those of its events, and runs
// never share a seq, so a run whose range lies within the spans the cover
// was built or flushed from has all its ids in the cover: a merge of
// covered runs is covered. Ids forgotten since stay in the cover, which
// costs a false positive, never an event. A run the cover does not cover
// (one another process flushed, or one built meanwhile) is tested as
// before.

// coverBitsPerID sizes a cover for coverRoom times the ids it starts
// with; it is rebuilt when it holds coverRefill times that, when its
// false positives are still about 2% (each costing the run-by-run tests
// of before). defaultCoverAfter is how many events a process adds before
// it builds one: reading every run's ids costs seconds of CPU, which a
// short import or a bench's burst would not win back. With more than
// coverRunsAtOnce runs (merges waited for a pause: compactor.go), testing
// each new id against every run's filter costs more than that, and a
// process builds its cover once it has added coverAfterManyRuns events
// (a fraction of a second of busy ingest, more than a small import).
const (
	coverBitsPerID     = 12
	coverRoom          = 1.5
	coverRefill        = 1.4
	defaultCoverAfter  = 1 << 18
	coverRunsAtOnce    = 24
	coverAfterManyRuns = 1 << 14
)

// coverFilter is a blocked Bloom filter: the seven bits of an id lie in
// one 512-bit block, so a test or an add touches one cache line where a
// plain filter of this size touches seven (a test costs one cache miss
// instead of up to seven; its false positives at 12 bits an id are about
// 0.5% instead of 0.3%). Bits are set and read atomically, so a flush
// adds its ids while writers test others, without a lock.
type coverFilter struct {
	seed   maphash.Seed
	blocks uint64
	words  []atomic.Uint64
}

func newCoverFilter(ids int64) *coverFilter {
	blocks := uint64(max(ids*coverBitsPerID/512, 1))
	return &coverFilter{seed: maphash.MakeSeed(), blocks: blocks, words: make([]atomic.Uint64, blocks*8)}
}

// coverHash is where an id's bits are: its block and, nine bits each,
// their positions in it.
type coverHash struct{ block, bits uint64 }

func (f *coverFilter) hash(id string) coverHash {
	h := maphash.String(f.seed, id)
	// The block from the high half (a multiply, not a modulo), the bit
	// positions from the same hash mixed again.
	block := (h >> 32) * f.blocks >> 32
	if f.blocks > 1<<32 {
		block = h % f.blocks
	}
	bits := (h ^ h>>29) * 0xbf58476d1ce4e5b9
	return coverHash{block, bits ^ bits>>32}
}

func (f *coverFilter) add(h coverHash) {
	base := h.block * 8
	for i := range 7 {
		pos := (h.bits >> (9 * i)) & 511
		f.words[base+pos>>6].Or(1 << (pos & 63))
	}
}

func (f *coverFilter) test(h coverHash) bool {
	base := h.block * 8
	for i := range 7 {
		pos := (h.bits >> (9 * i)) & 511
		if f.words[base+pos>>6].Load()&(1<<(pos&63)) == 0 {
			return false
		}
	}
	return true
}

// idCover is a filter over the ids of the runs within spans.
type idCover struct {
	filter *coverFilter
	spans  []seqSpan // sorted, disjoint, not adjacent
	// ids is how many ids were added; room how many it was sized for.
	ids, room int64
}

// seqSpan is the seqs first to last.
type seqSpan struct{ first, last int64 }

// holds reports whether the cover holds the ids of the events first to last.
func (c *idCover) holds(first, last int64) bool {
	for _, s := range c.spans {
		if s.first <= first && last <= s.last {
			return true
		}
	}
	return false
}

// addSpan notes that the cover holds the ids of the events in s.
func (c *idCover) addSpan(s seqSpan) {
	out := make([]seqSpan, 0, len(c.spans)+1)
	placed := false
	for _, o := range c.spans {
		switch {
		case o.last+1 < s.first:
			out = append(out, o)
		case s.last+1 < o.first:
			if !placed {
				out, placed = append(out, s), true
			}
			out = append(out, o)
		default: // overlapping or adjacent: one span
			s = seqSpan{min(s.first, o.first), max(s.last, o.last)}
		}
	}
	if !placed {
		out = append(out, s)
	}
	c.spans = out
}

// full reports whether the cover is due to be rebuilt larger.
func (c *idCover) full() bool { return float64(c.ids) > coverRefill*float64(c.room) }

// markCoveredLocked notes on each run whether the cover holds its ids.
// x.mu must be held.
func (x *idIndex) markCoveredLocked() {
	for _, r := range x.runs {
		r.covered = x.cover != nil && x.cover.holds(r.first, r.last)
	}
}

// coverAdd adds a run's ids to the current cover before the run is
// registered, and returns the cover they went into: registerRun notes the
// run as covered only if that is still the index's cover. It takes x.mu
// only to read which cover that is.
func (x *idIndex) coverAdd(ids []string) *idCover {
	x.mu.Lock()
	c := x.cover
	x.mu.Unlock()
	if c == nil {
		return nil
	}
	for _, id := range ids {
		c.filter.add(c.filter.hash(id))
	}
	return c
}

// coverFlushedLocked notes that the cover c, if still the index's, holds
// the flushed run r's ids (added by coverAdd). x.mu must be held.
func (x *idIndex) coverFlushedLocked(c *idCover, r *idRun) {
	if c == nil || c != x.cover {
		return
	}
	c.ids += r.ids
	c.addSpan(seqSpan{r.first, r.last})
	if c.full() {
		x.coverer.kick()
	}
}

// coverer builds covers in the background.
type coverer struct {
	d     *DB
	log   *slog.Logger
	start sync.Once
	kickc chan struct{}
	stop  chan struct{}
	done  sync.WaitGroup
}

func newCoverer(d *DB, log *slog.Logger) *coverer {
	return &coverer{d: d, log: log, kickc: make(chan struct{}, 1), stop: make(chan struct{})}
}

// kick asks for a (new) cover, starting the builder the first time. It
// never blocks.
func (c *coverer) kick() {
	c.start.Do(func() {
		c.done.Add(1)
		go c.loop()
	})
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

func (c *coverer) close() {
	c.start.Do(func() {}) // no builder starts after this
	close(c.stop)
	c.done.Wait()
}

func (c *coverer) loop() {
	defer c.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	var failures int
	for {
		select {
		case <-c.stop:
			return
		case <-c.kickc:
		}
		x := c.d.ids
		x.mu.Lock()
		needed := x.cover == nil || x.cover.full()
		x.mu.Unlock()
		if !needed {
			continue
		}
		if err := c.build(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait := min(time.Second<<min(failures-1, 6), time.Minute)
			c.log.Warn("building the event id cover failed; ids are checked run by run", "err", err, "retry_in", wait)
			select {
			case <-c.stop:
				return
			case <-time.After(wait):
				c.kick()
			}
			continue
		}
		failures = 0
	}
}

// build reads the ids of every run into a new cover and puts it in place.
// Runs registered while it reads are read too, a few rounds at most; any
// left are checked run by run until a merge folds them into covered ones
// or the next cover is built.
func (c *coverer) build(ctx context.Context) error {
	start := time.Now()
	x := c.d.ids
	var cov *idCover
	for round := 0; round < 3; round++ {
		tx, err := c.d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("read event id runs: %w", err)
		}
		runs, err := readRunList(ctx, tx)
		if err != nil {
			tx.Rollback()
			return err
		}
		if cov == nil {
			var total int64
			for _, r := range runs {
				total += r.ids
			}
			x.mu.Lock()
			minRoom := x.coverMinRoom
			x.mu.Unlock()
			room := max(int64(coverRoom*float64(total)), minRoom)
			cov = &idCover{filter: newCoverFilter(room), room: room}
		}
		var read int
		for _, r := range runs {
			if cov.holds(r.first, r.last) {
				continue
			}
			if err := addRunToCover(ctx, tx, cov, r); err != nil {
				tx.Rollback()
				return err
			}
			read++
		}
		tx.Rollback()
		x.mu.Lock()
		var missing int
		for _, r := range x.runs {
			if !cov.holds(r.first, r.last) {
				missing++
			}
		}
		if missing == 0 || round == 2 {
			x.cover = cov
			x.markCoveredLocked()
			ids := cov.ids // guarded by x.mu once the cover is in place
			x.mu.Unlock()
			c.log.Debug("event id cover built", "ids", ids, "room", cov.room, "runs_left_out", missing, "took", time.Since(start))
			return nil
		}
		x.mu.Unlock()
	}
	return nil
}

// addRunToCover adds the ids of run r, as tx sees it, to cov.
func addRunToCover(ctx context.Context, tx *sql.Tx, cov *idCover, r *idRun) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM `+r.table())
	if err != nil {
		return fmt.Errorf("read event id run %d: %w", r.run, err)
	}
	defer rows.Close()
	var id sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("read event id run %d: %w", r.run, err)
		}
		cov.filter.add(cov.filter.hash(string(id)))
		cov.ids++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read event id run %d: %w", r.run, err)
	}
	cov.addSpan(seqSpan{r.first, r.last})
	return nil
}

package sqlite

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// checkpointIdle is how long the database must go without a commit before
// the checkpointer copies the write-ahead log back into the database file.
const checkpointIdle = 500 * time.Millisecond

// checkpointer does the database's housekeeping when writing pauses: it
// folds pending customer changes into the customers rows (changes.go),
// moves the fires older than a day to fires_archive (archive.go), then
// checkpoints the write-ahead log. It also does so once just after the
// database opens: a process that only runs once, like koi run from cron,
// may never pause before it exits.
//
// SQLite's automatic checkpoint runs inside whichever commit crosses its
// threshold: with the default of 1000 pages, a run writing tens of
// thousands of fires paid for a checkpoint, with an fsync of the database
// file, every few batches, and wrote the same index pages back over and
// over. koi raises the threshold (wal_autocheckpoint in DSN) so that it is
// only a backstop, and checkpoints here once writes go quiet, off the
// write path. A passive checkpoint never blocks readers or writers.
type checkpointer struct {
	kickc  chan struct{}
	urgec  chan struct{}
	stop   chan struct{}
	cancel context.CancelFunc
	done   sync.WaitGroup
	closed sync.Once
}

func (d *DB) startCheckpointer(log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{kickc: make(chan struct{}, 1), urgec: make(chan struct{}, 1), stop: make(chan struct{}), cancel: cancel}
	d.ckpt = c
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		timer := time.NewTimer(checkpointIdle) // once after opening
		// waited is set while the pauses' housekeeping keeps finding the
		// database busy: one warning for the spell, not one a pause.
		waited := false
		for {
			select {
			case <-c.stop:
				timer.Stop()
				return
			case <-c.kickc:
				timer.Reset(checkpointIdle)
			case <-c.urgec:
				// Too many changes pending to wait for a pause: fold one
				// chunk and yield the write lock; the next commit urges
				// again while the backlog lasts.
				if _, err := d.foldChunk(ctx); err != nil && ctx.Err() == nil {
					housekeepingFailed(log, "folding customer changes", "they stay in the log", err, waited)
				}
			case <-timer.C:
				// An error (the database is closing, say) leaves the work
				// to the next pause, or to SQLite's own checkpoint when the
				// last connection closes. The changes stay readable in the
				// log meanwhile.
				busy := false
				yielded, err := d.whileIdle(func() (int, error) { return d.foldChunk(ctx) })
				if err != nil && ctx.Err() == nil {
					busy = housekeepingFailed(log, "folding customer changes", "they stay in the log", err, waited) || busy
				}
				if !yielded {
					before := time.Now().Add(-recentFires).UnixMilli()
					yielded, err = d.whileIdle(func() (int, error) { return d.archiveChunk(ctx, before) })
					if err != nil && ctx.Err() == nil {
						busy = housekeepingFailed(log, "archiving fires", "they stay in fires_recent", err, waited || busy) || busy
					}
				}
				if yielded {
					// Writing resumed: the rest waits for its next pause.
					timer.Reset(checkpointIdle)
					continue
				}
				waited = busy
				if busy {
					// Another process held the write lock past the busy
					// timeout: try again after a pause, even if this
					// process commits nothing more to ask for one.
					timer.Reset(checkpointIdle)
				}
				_, _ = d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
}

// whileIdle runs chunk, a step of housekeeping that takes the write lock,
// until it has nothing left to do or this process's work wants to write:
// another writer waits for the lock, or committed since whileIdle began.
// It reports whether it stopped for that. Housekeeping starts in a pause
// of the writing, but a pause is no promise: a run evaluating before it
// writes pauses for half a second, and folding a run's sixty thousand
// tag changes holds the lock for a second and a half in chunks. Without
// yielding, every batch of the run resuming its writing waited behind a
// chunk, and the run shared the cores with the rest of the fold.
func (d *DB) whileIdle(chunk func() (int, error)) (yielded bool, err error) {
	commits := d.commits.Load()
	yielded, _, err = inChunks(chunk, func() bool { return d.waiting.Load() > 0 || d.commits.Load() != commits })
	return yielded, err
}

// inChunks runs chunk, which returns how much it did, until it does
// nothing or fails, or until stop (when set) says so after a chunk that
// did something. It returns whether stop did, and the total done.
func inChunks(chunk func() (int, error), stop func() bool) (stopped bool, total int, err error) {
	for {
		n, err := chunk()
		total += n
		if err != nil || n == 0 {
			return false, total, err
		}
		if stop != nil && stop() {
			return true, total, nil
		}
	}
}

// housekeepingFailed logs a failed step of the housekeeping and reports
// whether it failed only because another connection held the write lock
// too long: a warning, as the step is tried again at the next pause, not
// an error; at debug level when the pause before found it busy too
// (again), as a bulk load in another process does for minutes.
func housekeepingFailed(log *slog.Logger, step, meanwhile string, err error, again bool) (busy bool) {
	if isBusy(err) {
		level := slog.LevelWarn
		if again {
			level = slog.LevelDebug
		}
		log.Log(context.Background(), level, step+" waits: the database is busy; trying again at the next pause", "err", err)
		return true
	}
	log.Error(step+" failed; "+meanwhile, "err", err)
	return false
}

// kick notes a commit: the checkpoint waits until commits pause.
func (c *checkpointer) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

// urge asks for a fold now, without waiting for writes to pause.
func (c *checkpointer) urge() {
	select {
	case c.urgec <- struct{}{}:
	default:
	}
}

// close stops the checkpointer; closing again does nothing.
func (c *checkpointer) close() {
	c.closed.Do(func() {
		close(c.stop)
		c.cancel()
		c.done.Wait()
	})
}

package sqlite

import (
	"context"
	"sync"
	"time"
)

// checkpointIdle is how long the database must go without a commit before
// the checkpointer copies the write-ahead log back into the database file.
const checkpointIdle = 500 * time.Millisecond

// checkpointer checkpoints the write-ahead log when writing pauses.
//
// SQLite's automatic checkpoint runs inside whichever commit crosses its
// threshold: with the default of 1000 pages, a run writing tens of
// thousands of fires paid for a checkpoint, with an fsync of the database
// file, every few batches, and wrote the same index pages back over and
// over. koi raises the threshold (wal_autocheckpoint in DSN) so that it is
// only a backstop, and checkpoints here once writes go quiet, off the
// write path. A passive checkpoint never blocks readers or writers.
type checkpointer struct {
	kickc chan struct{}
	stop  chan struct{}
	done  sync.WaitGroup
}

func (d *DB) startCheckpointer() {
	c := &checkpointer{kickc: make(chan struct{}, 1), stop: make(chan struct{})}
	d.ckpt = c
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		for {
			select {
			case <-c.stop:
				timer.Stop()
				return
			case <-c.kickc:
				timer.Reset(checkpointIdle)
			case <-timer.C:
				// An error (the database is closing, say) leaves the work
				// to the next checkpoint, or to SQLite's own when the last
				// connection closes.
				_, _ = d.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
}

// kick notes a commit: the checkpoint waits until commits pause.
func (c *checkpointer) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

func (c *checkpointer) close() {
	close(c.stop)
	c.done.Wait()
}

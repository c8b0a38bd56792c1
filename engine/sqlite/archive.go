package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// recentFires is how long a fire stays in fires_recent, whose unique keys
// are what a run's inserts collide with (migration 0017): longer than any
// run takes from reading the fire history to writing its last fire.
const recentFires = 24 * time.Hour

// archiveChunk bounds the fires one transaction moves, so that a run
// waiting for the write lock waits for one chunk, not for the whole day's.
const archiveChunk = 5000

// ArchiveFires moves the fires written before the given time from
// fires_recent to fires_archive, a chunk per transaction, and returns how
// many it moved. Readers see no difference: the view fires is both
// tables, and nothing of the pond changes, so neither does its version.
// The checkpointer calls it when writes pause, with the fires older than
// a day.
func (d *DB) ArchiveFires(ctx context.Context, writtenBefore time.Time) (int, error) {
	_, total, err := inChunks(func() (int, error) { return d.archiveChunk(ctx, writtenBefore.UnixMilli()) }, nil)
	return total, err
}

// archiveChunk moves the oldest fires written before the given unix ms,
// at most archiveChunk of them.
func (d *DB) archiveChunk(ctx context.Context, before int64) (int, error) {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("archive fires: begin: %w", err)
	}
	defer end()
	// Ids grow with the time a fire was written, so the oldest are the
	// first in id order: a look at the first chunk's rows finds them,
	// without a scan of the table when none is old enough.
	var hi sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id, written_at FROM fires_recent ORDER BY id LIMIT ?) WHERE written_at < ?`,
		archiveChunk, before).Scan(&hi); err != nil {
		return 0, fmt.Errorf("archive fires: %w", err)
	}
	if !hi.Valid {
		return 0, nil
	}
	// In key order, the archive's unique key is written a page after the
	// next rather than at random.
	if _, err := tx.ExecContext(ctx, `INSERT OR FAIL INTO fires_archive (id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq)
		SELECT id, run_id, playbook, rule, customer_id, seq, status, at, hash, variant, grp, gseq FROM fires_recent
		WHERE id <= ? AND written_at < ? ORDER BY playbook, rule, customer_id, seq`, hi.Int64, before); err != nil {
		return 0, fmt.Errorf("archive fires: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM fires_recent WHERE id <= ? AND written_at < ?`, hi.Int64, before)
	if err != nil {
		return 0, fmt.Errorf("archive fires: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("archive fires: %w", err)
	}
	if err := d.commit(tx); err != nil {
		return 0, fmt.Errorf("archive fires: commit: %w", err)
	}
	return int(n), nil
}

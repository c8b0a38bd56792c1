package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/koihq/koi/engine/profile"
)

// Tags, tiers and guides set by fires go to customer_changes, a log appended in
// seq order, and are folded into the customers rows later, off the path a
// run waits for. See migration 0008 for why.

// foldChunk is how many changes one fold transaction folds: the write
// lock is held for a fraction of a second at a time, so ingest and runs
// barely notice a fold.
const foldChunk = 5000

// foldBackstop is how many pending changes make a fold run at once, even
// while writes go on: under a write load that never pauses, the log would
// otherwise only grow.
const foldBackstop = 200_000

// appendChanges logs the new tags, tiers and guides of customers. They
// exist: staging read each one's state in this transaction before
// changing it (FireTx.ApplyEffects). Looking them up again here read a
// page of the customers index per change, scattered over the whole
// table: a sixth of a bench run's writing (koi bench, 1M customers).
func (f *fireTx) appendChanges(tags, tiers, guides map[string]string) error {
	ids := make([]string, 0, len(tags)+len(tiers)+len(guides))
	for _, m := range []map[string]string{tags, tiers, guides} {
		for id := range m {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids) // deterministic, and neighbours in the customer index
	ids = slices.Compact(ids)
	now := ms(f.now)
	start := 0
	for _, size := range chunkSizes(len(ids)) {
		chunk := ids[start : start+size]
		start += size
		args := f.argBuf(5 * len(chunk))
		for _, id := range chunk {
			args = append(args, id, nullable(tiers, id), nullable(tags, id), nullable(guides, id), now)
		}
		if _, err := f.exec(f.db.multiRow(`INSERT OR FAIL INTO customer_changes (customer_id, tier, tags, guide, at) VALUES `, len(chunk), 5, ""), args); err != nil {
			return fmt.Errorf("log customer changes: %w", err)
		}
	}
	f.changes += int64(len(ids))
	return nil
}

// nullable returns m[k], or nil (SQL NULL: unchanged) when k is absent.
func nullable(m map[string]string, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	return nil
}

// FoldChanges folds every pending tag and tier change into the customers
// rows now, as the background does once writes pause.
func (d *DB) FoldChanges(ctx context.Context) error {
	_, _, err := inChunks(func() (int, error) { return d.foldChunk(ctx) }, nil)
	return err
}

// foldChunk folds the oldest changes, at most foldChunk of them, and
// returns how many it folded.
func (d *DB) foldChunk(ctx context.Context) (int, error) {
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("fold customer changes: begin: %w", err)
	}
	defer end()
	var hi sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(seq) FROM (SELECT seq FROM customer_changes ORDER BY seq LIMIT ?)`, foldChunk).Scan(&hi); err != nil {
		return 0, fmt.Errorf("fold customer changes: %w", err)
	}
	if !hi.Valid {
		d.changes.Store(0)
		return 0, nil
	}
	// Only changes up to hi are folded; a later change of the same
	// customer stays in the log and still wins over the row.
	if _, err := tx.ExecContext(ctx, `UPDATE OR FAIL customers SET
		tier = coalesce((SELECT x.tier FROM customer_changes x
			WHERE x.customer_id = customers.id AND x.tier IS NOT NULL AND x.seq <= ?1 ORDER BY x.seq DESC LIMIT 1), tier),
		tags = coalesce((SELECT x.tags FROM customer_changes x
			WHERE x.customer_id = customers.id AND x.tags IS NOT NULL AND x.seq <= ?1 ORDER BY x.seq DESC LIMIT 1), tags),
		guide = coalesce((SELECT x.guide FROM customer_changes x
			WHERE x.customer_id = customers.id AND x.guide IS NOT NULL AND x.seq <= ?1 ORDER BY x.seq DESC LIMIT 1), guide),
		updated_at = max(updated_at, (SELECT max(x.at) FROM customer_changes x WHERE x.customer_id = customers.id AND x.seq <= ?1))
		WHERE id IN (SELECT customer_id FROM customer_changes WHERE seq <= ?1)`, hi.Int64); err != nil {
		return 0, fmt.Errorf("fold customer changes: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM customer_changes WHERE seq <= ?`, hi.Int64)
	if err != nil {
		return 0, fmt.Errorf("fold customer changes: %w", err)
	}
	n, _ := res.RowsAffected()
	// Not d.commit: a fold is housekeeping, and must not postpone the
	// checkpoint that follows it.
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("fold customer changes: commit: %w", err)
	}
	if d.changes.Add(-n) < 0 {
		d.changes.Store(0)
	}
	return int(n), nil
}

// noteChanges counts newly committed changes, and folds at once when too
// many are pending.
func (d *DB) noteChanges(n int64) {
	if n > 0 && d.changes.Add(n) >= foldBackstop {
		d.ckpt.urge()
	}
}

// countChanges reads how many changes are pending, at open.
func (d *DB) countChanges(ctx context.Context) error {
	var n int64
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM customer_changes`).Scan(&n); err != nil {
		return fmt.Errorf("count customer changes: %w", err)
	}
	d.changes.Store(n)
	return nil
}

// dropChanges removes the pending changes of customers that are being
// replaced or deleted: the new row is the whole truth.
func dropChanges(ctx context.Context, tx *sql.Tx, ids []string) error {
	var pending bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM customer_changes)`).Scan(&pending); err != nil {
		return fmt.Errorf("drop customer changes: %w", err)
	}
	if !pending {
		return nil // the usual case, and a bulk import's every batch
	}
	enc, _ := json.Marshal(ids)
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_changes WHERE customer_id IN (SELECT value FROM json_each(?))`, string(enc)); err != nil {
		return fmt.Errorf("drop customer changes: %w", err)
	}
	return nil
}

// applyChanges applies the pending changes, oldest first, to a pond just
// loaded in the same read transaction.
func applyChanges(ctx context.Context, c *readConn, pond *profile.Pond, jc *jsonCache) error {
	rows, err := c.tx.QueryContext(ctx, `SELECT customer_id, tier, tags, guide FROM customer_changes ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	in := profile.Interner{}
	for rows.Next() {
		var id string
		var tier, tags, guide sql.RawBytes
		if err := rows.Scan(&id, &tier, &tags, &guide); err != nil {
			return err
		}
		i, ok := pond.Lookup(id)
		if !ok {
			continue // deleted since; its changes are on their way out
		}
		// The pond is still being loaded, not yet shared with any
		// snapshot: its records may change in place.
		cust := pond.Customers[i]
		if tier != nil {
			cust.SetTier(in.Get(tier))
		}
		if guide != nil {
			cust.SetGuide(in.Get(guide))
		}
		if tags != nil {
			list, err := jc.decodeTags(tags)
			if err != nil {
				return fmt.Errorf("customer %s: tags: %w", id, err)
			}
			cust.SetTagList(list)
		}
	}
	return rows.Err()
}

package sqlite

import (
	"context"
	"fmt"

	"github.com/koihq/koi/engine/domain"
)

// DeleteCustomer deletes a customer on their request (PIPL, GDPR): the
// customer row, their events, coupons, fires, pending changes and outbox
// jobs (a message names them), guides' tasks about them, where they are in
// journeys, their identities, aliases and merges, and their events' ids
// from the id index, in one transaction. Runs keep their counts, which
// name no one.
//
// events has no index by customer (migration 0003: ingest pays for one on
// every event), so finding a customer's events reads the table: seconds at
// ten million events, for a request that is rare and must be complete.
func (d *DB) DeleteCustomer(ctx context.Context, id string) (_ int64, err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer end()
	// A merged id names its survivor: the person asking is the same.
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT customer_id FROM customer_aliases WHERE alias = ?1), ?1)`, id).Scan(&id); err != nil {
		return 0, fmt.Errorf("read alias: %w", err)
	}
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE id = ?`, id).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read customer: %w", err)
	}
	if exists == 0 {
		return 0, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", id)}
	}
	version, err := bumpVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	x := d.ids
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.syncLocked(ctx, tx); err != nil {
		return 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, id FROM events WHERE customer_id = ?`, id)
	if err != nil {
		return 0, fmt.Errorf("read events: %w", err)
	}
	type ref struct {
		seq int64
		id  string
	}
	var evs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.seq, &r.id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read events: %w", err)
		}
		evs = append(evs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read events: %w", err)
	}
	for _, r := range x.runs {
		var gone int64
		for _, e := range evs {
			if e.seq >= r.first && e.seq <= r.last {
				res, err := tx.ExecContext(ctx, `DELETE FROM `+r.table()+` WHERE id = ?`, e.id)
				if err != nil {
					return 0, fmt.Errorf("forget event id: %w", err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return 0, fmt.Errorf("forget event id: %w", err)
				}
				gone += n
			}
		}
		// The run's count stays true: merges and filters are sized by it.
		if gone > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE event_id_runs SET ids = ids - ? WHERE run = ?`, gone, r.run); err != nil {
				return 0, fmt.Errorf("forget event ids: %w", err)
			}
		}
	}
	// Forgetting moves the generation (every index reloads its runs) and
	// forgets (a run being built from before this is void); the highest
	// seq stays taken (see AddEvents), even when its event goes now.
	if _, err := tx.ExecContext(ctx, `UPDATE event_id_state SET generation = generation + 1, forgets = forgets + 1,
		high_seq = max(high_seq, (SELECT coalesce(max(seq), 0) FROM events)) WHERE id = 1`); err != nil {
		return 0, fmt.Errorf("forget event ids: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE customer_id = ?`, id); err != nil {
		return 0, fmt.Errorf("delete events: %w", err)
	}
	// A customer's fires, through the fire key: one (playbook, rule) at a time.
	pairs, err := fireRules(ctx, tx)
	if err != nil {
		return 0, err
	}
	for _, p := range pairs {
		for _, table := range []string{"fires_recent", "fires_archive"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE playbook = ? AND rule = ? AND customer_id = ?`, p[0], p[1], id); err != nil {
				return 0, fmt.Errorf("delete fires: %w", err)
			}
		}
	}
	for _, q := range []string{`DELETE FROM coupons WHERE customer_id = ?`, `DELETE FROM customer_changes WHERE customer_id = ?`,
		`DELETE FROM jobs WHERE customer_id = ?`, `DELETE FROM tasks WHERE customer_id = ?`, `DELETE FROM contacts WHERE customer_id = ?`,
		`DELETE FROM held_fires WHERE customer_id = ?`, `DELETE FROM journey_state WHERE customer_id = ?`, `DELETE FROM identities WHERE customer_id = ?`,
		// Their merges name them and their other ids (and the identity
		// that linked them): gone too, with the aliases.
		`DELETE FROM merges WHERE survivor = ?1 OR merged IN (SELECT alias FROM customer_aliases WHERE customer_id = ?1)
			OR survivor IN (SELECT alias FROM customer_aliases WHERE customer_id = ?1)`,
		`DELETE FROM customer_aliases WHERE customer_id = ?`,
		`DELETE FROM customers WHERE id = ?`} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return 0, fmt.Errorf("delete customer: %w", err)
		}
	}
	if err := d.commit(tx); err != nil {
		return 0, err
	}
	x.generation = -1 // reload runs and tail on next use: the ids are gone
	return version, nil
}

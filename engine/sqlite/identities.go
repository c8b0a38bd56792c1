package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// LinkIdentities gives the customer (or the one its id was merged into)
// identities (normalised), at at, in one transaction: all of them or
// none. An identity the customer has already is left as it is; one
// another customer has merges the two (see merge.go).
func (d *DB) LinkIdentities(ctx context.Context, customerID string, ids []domain.Identity, at time.Time, tiers []string, source string,
	tagJobs func(key, customerID string, before, after []string, force bool) []domain.NewJob) (_ domain.StoredCustomers, err error) {
	defer unavailableOn(&err)
	out := domain.StoredCustomers{IDs: []string{customerID}}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return out, fmt.Errorf("link identities: %w", err)
	}
	defer end()
	st, err := tx.PrepareContext(ctx, upsertSQL)
	if err != nil {
		return out, fmt.Errorf("prepare upsert customer: %w", err)
	}
	defer st.Close()
	m := &merger{ctx: ctx, tx: tx, now: at, tiers: tiers, source: source, upsert: st, aliases: map[string]string{}, tagJobs: tagJobs}
	if err := m.anyAliases(); err != nil {
		return out, err
	}
	target, err := m.canonical(customerID)
	if err != nil {
		return out, err
	}
	var known int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE id = ?`, target).Scan(&known); err != nil {
		return out, fmt.Errorf("link identities: %w", err)
	}
	if known == 0 {
		return out, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", customerID)}
	}
	if err := m.noteTags(target); err != nil {
		return out, err
	}
	if out.IDs[0], err = m.link(target, ids); err != nil {
		return out, err
	}
	if err := m.moveEvents(); err != nil {
		return out, err
	}
	out.Merges = m.merges
	if out.Final, err = m.finals(); err != nil {
		return out, err
	}
	if len(m.merges) > 0 {
		// Merges change customers: the pond moves.
		if out.Version, err = bumpVersion(ctx, tx); err != nil {
			return out, err
		}
		if m.tagJobs != nil {
			jobs, err := m.tagSyncJobs(out.Version)
			if err != nil {
				return out, err
			}
			if err := insertTxJobs(ctx, tx, at, jobs); err != nil {
				return out, err
			}
			out.Jobs = len(jobs)
		}
	}
	return out, d.commit(tx)
}

// owner returns the customer who has identity ident ("" for none). A
// customer's wecom_id names them as their wecom_external_userid too
// (ResolveIdentities): prefer's own first, else the oldest's.
func (m *merger) owner(ident domain.Identity, prefer string) (string, error) {
	kind, value := ident.Key()
	var owner string
	switch err := m.tx.QueryRowContext(m.ctx, `SELECT customer_id FROM identities WHERE kind = ? AND value = ?`, kind, value).Scan(&owner); {
	case err == sql.ErrNoRows:
	case err != nil:
		return "", fmt.Errorf("link identities: %w", err)
	}
	if owner == "" && kind == domain.IdentityWeComExtID {
		err := m.tx.QueryRowContext(m.ctx, `SELECT id FROM customers WHERE wecom_id = ? AND wecom_id != ''
			ORDER BY id != ?, joined_at, id LIMIT 1`, value, prefer).Scan(&owner)
		if err != nil && err != sql.ErrNoRows {
			return "", fmt.Errorf("link identities: %w", err)
		}
	}
	return owner, nil
}

// link gives customer id identities (normalised) and returns who id is
// after: an identity another customer has merges the two, and the older
// of them is who the rest go to.
func (m *merger) link(id string, ids []domain.Identity) (string, error) {
	for _, ident := range ids {
		kind, value := ident.Key()
		owner, err := m.owner(ident, id)
		if err != nil {
			return "", err
		}
		if owner != "" && owner != id {
			if id, err = m.merge(id, owner, ident); err != nil {
				return "", err
			}
		}
		if _, err := m.tx.ExecContext(m.ctx, `INSERT INTO identities (kind, value, customer_id, added_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind, value) DO NOTHING`, kind, value, id, ms(m.now)); err != nil {
			return "", fmt.Errorf("link identities: %w", err)
		}
	}
	return id, nil
}

// ResolveIdentities returns the customer of each identity (normalised),
// "" for one nobody has. A wecom_external_userid nobody has as an identity
// is looked for among the customers' wecom_id.
func (d *DB) ResolveIdentities(ctx context.Context, ids []domain.Identity) ([]string, error) {
	out := make([]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([][2]string, len(ids))
	for i, id := range ids {
		keys[i][0], keys[i][1] = id.Key()
	}
	enc, _ := json.Marshal(keys)
	rows, err := d.db.QueryContext(ctx, `SELECT i.kind, i.value, i.customer_id FROM identities i
		JOIN json_each(?) k ON i.kind = k.value ->> 0 AND i.value = k.value ->> 1`, string(enc))
	if err != nil {
		return nil, fmt.Errorf("resolve identities: %w", err)
	}
	defer rows.Close()
	owner := map[[2]string]string{}
	for rows.Next() {
		var k [2]string
		var c string
		if err := rows.Scan(&k[0], &k[1], &c); err != nil {
			return nil, fmt.Errorf("resolve identities: %w", err)
		}
		owner[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resolve identities: %w", err)
	}
	for i, k := range keys {
		out[i] = owner[k]
		if out[i] == "" && k[0] == domain.IdentityWeComExtID {
			// A customer's wecom_id names them too (the oldest, should two
			// share one).
			err := d.db.QueryRowContext(ctx, `SELECT id FROM customers WHERE wecom_id = ? AND wecom_id != '' ORDER BY joined_at, id LIMIT 1`, k[1]).Scan(&out[i])
			if err != nil && err != sql.ErrNoRows {
				return nil, fmt.Errorf("resolve identities: %w", err)
			}
		}
	}
	return out, nil
}

// CustomerIdentities returns the customer's identities, by kind and value.
func (d *DB) CustomerIdentities(ctx context.Context, customerID string) ([]domain.Identity, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT kind, value FROM identities WHERE customer_id = ? ORDER BY kind, value`, customerID)
	if err != nil {
		return nil, fmt.Errorf("read identities: %w", err)
	}
	defer rows.Close()
	out := []domain.Identity{}
	for rows.Next() {
		var kind, value string
		if err := rows.Scan(&kind, &value); err != nil {
			return nil, fmt.Errorf("read identities: %w", err)
		}
		out = append(out, domain.IdentityOfKey(kind, value))
	}
	return out, rows.Err()
}

// EachIdentity calls fn with every identity and its customer, by customer.
func (d *DB) EachIdentity(ctx context.Context, fn func(customerID string, id domain.Identity)) error {
	rows, err := d.db.QueryContext(ctx, `SELECT customer_id, kind, value FROM identities ORDER BY customer_id, kind, value`)
	if err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c, kind, value string
		if err := rows.Scan(&c, &kind, &value); err != nil {
			return fmt.Errorf("read identities: %w", err)
		}
		fn(c, domain.IdentityOfKey(kind, value))
	}
	return rows.Err()
}

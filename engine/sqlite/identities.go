package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// LinkIdentities gives the customer identities (normalised), at at, in one
// transaction: all of them or none. An identity the customer has already
// is left as it is; one another customer has is a conflict naming both,
// and nothing is written.
func (d *DB) LinkIdentities(ctx context.Context, customerID string, ids []domain.Identity, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("link identities: %w", err)
	}
	defer end()
	var known int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE id = ?`, customerID).Scan(&known); err != nil {
		return fmt.Errorf("link identities: %w", err)
	}
	if known == 0 {
		return &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", customerID)}
	}
	if err := linkIdentities(ctx, tx, customerID, ids, at); err != nil {
		return err
	}
	return d.commit(tx)
}

// linkIdentities gives the customer identities in tx; one another
// customer has is a conflict naming both.
func linkIdentities(ctx context.Context, tx *sql.Tx, customerID string, ids []domain.Identity, at time.Time) error {
	for _, id := range ids {
		kind, value := id.Key()
		var owner string
		switch err := tx.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE kind = ? AND value = ?`, kind, value).Scan(&owner); {
		case err == sql.ErrNoRows:
			if _, err := tx.ExecContext(ctx, `INSERT INTO identities (kind, value, customer_id, added_at) VALUES (?, ?, ?, ?)`, kind, value, customerID, ms(at)); err != nil {
				return fmt.Errorf("link identities: %w", err)
			}
		case err != nil:
			return fmt.Errorf("link identities: %w", err)
		case owner != customerID:
			return &domain.Error{Code: domain.EConflict, Field: "identities",
				Message: fmt.Sprintf("%s %s is customer %s's, not %s's (koi does not merge customers yet)", id.Kind, id.Value, owner, customerID)}
		}
	}
	return nil
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

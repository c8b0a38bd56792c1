package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
)

// UpsertCustomers inserts or replaces customers in one transaction.
func (d *DB) UpsertCustomers(ctx context.Context, cs []domain.Customer, now time.Time) error {
	_, err := d.PutCustomers(ctx, cs, now)
	return err
}

// PutCustomers inserts or replaces customers in one transaction and returns
// the pond version it committed.
func (d *DB) PutCustomers(ctx context.Context, cs []domain.Customer, now time.Time) (int64, error) {
	res, err := d.StoreCustomers(ctx, domain.CustomerBatch{Customers: cs, Now: now})
	return res.Version, err
}

// upsertSQL inserts a customer or replaces the stored one's fields.
var upsertSQL = `INSERT INTO customers (` + customerColumns + `, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone, email = excluded.email,
			wecom_id = excluded.wecom_id, tier = excluded.tier, tags = excluded.tags, attrs = excluded.attrs,
			member = excluded.member, birthday = excluded.birthday,
			-- A record without a join time keeps the stored one (the
			-- last parameter): when someone joined is a fact, and which
			-- of two customers is older decides merges.
			joined_at = CASE WHEN ? THEN customers.joined_at ELSE excluded.joined_at END,
			guide = excluded.guide, updated_at = excluded.updated_at,
			-- Opt-out is absolute: an upsert adds channels, never takes
			-- one away (an import of an old CRM export must not undo an
			-- unsubscribe). DELETE /customers/{id}/opt_out/{channel} does.
			-- More than MaxOptOuts channels is every channel, as
			-- profile.UnionOptOut has it.
			opt_out = (SELECT CASE WHEN count(*) > ` + strconv.Itoa(domain.MaxOptOuts) + ` THEN '["*"]' ELSE json_group_array(value) END
				FROM (SELECT value FROM json_each(customers.opt_out)
				UNION SELECT value FROM json_each(excluded.opt_out) ORDER BY value))`

// StoreCustomers inserts or replaces customers in one transaction, with
// their identities. A record whose id was merged into another customer
// updates that one, as a merge would (see merge.go); a record naming an
// identity of another customer merges the two. Nothing of the batch is
// written unless all of it is.
func (d *DB) StoreCustomers(ctx context.Context, b domain.CustomerBatch) (_ domain.StoredCustomers, err error) {
	defer unavailableOn(&err)
	out := domain.StoredCustomers{IDs: make([]string, len(b.Customers))}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return out, fmt.Errorf("begin: %w", err)
	}
	defer end()
	st, err := tx.PrepareContext(ctx, upsertSQL)
	if err != nil {
		return out, fmt.Errorf("prepare upsert customer: %w", err)
	}
	defer st.Close()
	ids := make([]string, len(b.Customers))
	for i := range b.Customers {
		ids[i] = b.Customers[i].ID
	}
	m := &merger{ctx: ctx, tx: tx, now: b.Now, tiers: b.Tiers, source: b.Source, upsert: st, aliases: map[string]string{}, tagJobs: b.TagJobs}
	if err := m.anyAliases(); err != nil {
		return out, err
	}
	// Tag sync compares tags before and after the batch: before means
	// with the pending changes (fires' tags), which a record's own
	// upsert drops.
	for _, id := range ids {
		if id == "" {
			continue
		}
		t, err := m.canonical(id)
		if err != nil {
			return out, err
		}
		if err := m.noteTags(t); err != nil {
			return out, err
		}
	}
	if err := dropChanges(ctx, tx, ids); err != nil {
		return out, err
	}
	for i := range b.Customers {
		c := b.Customers[i]
		target, own, err := m.recordTarget(&c)
		if err != nil {
			return out, err
		}
		if err := m.noteTags(target); err != nil {
			return out, err
		}
		if own {
			err = upsertCustomer(ctx, st, &c, b.Now)
			if b.Customers[i].ID == "" {
				m.touch(target) // named by identities: the caller learns who from Final
			}
		} else {
			// A merged id, or identities of a customer: the record adds
			// to them as a merge would, instead of replacing them.
			var s domain.Customer
			if s, err = m.readNow(target); err == nil {
				merged := combine(s, c, b.Tiers)
				err = m.put(&merged)
			}
		}
		if err != nil {
			return out, err
		}
		// In the customer's transaction: a failure writes nothing of
		// the batch.
		if out.IDs[i], err = m.link(target, c.Identities); err != nil {
			return out, err
		}
	}
	for i := range out.IDs {
		// A later record may have merged an earlier one's customer.
		if s, ok := m.aliases[out.IDs[i]]; ok {
			out.IDs[i] = s
		}
	}
	if err := m.moveEvents(); err != nil {
		return out, err
	}
	out.Merges = m.merges
	if out.Final, err = m.finals(); err != nil {
		return out, err
	}
	if out.Version, err = bumpVersion(ctx, tx); err != nil {
		return out, err
	}
	if m.tagJobs != nil {
		jobs, err := m.tagSyncJobs(out.Version)
		if err != nil {
			return out, err
		}
		if err := insertTxJobs(ctx, tx, b.Now, jobs); err != nil {
			return out, err
		}
		out.Jobs = len(jobs)
	}
	if err := d.commit(tx); err != nil {
		return out, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

// upsertCustomer writes c with the prepared upsertSQL.
func upsertCustomer(ctx context.Context, st *sql.Stmt, c *domain.Customer, now time.Time) error {
	tags, attrs := "[]", "{}"
	if len(c.Tags) > 0 {
		b, _ := json.Marshal(c.Tags)
		tags = string(b)
	}
	if len(c.Attrs) > 0 {
		b, err := json.Marshal(c.Attrs)
		if err != nil {
			return fmt.Errorf("customer %s: attrs: %w", c.ID, err)
		}
		attrs = string(b)
	}
	optOut := "[]"
	if len(c.OptOut) > 0 {
		b, _ := json.Marshal(profile.UnionOptOut(nil, c.OptOut))
		optOut = string(b)
	}
	joined, keep := c.JoinedAt, c.JoinedAt.IsZero()
	if keep {
		joined = now // a new customer joins now
	}
	if _, err := st.ExecContext(ctx, c.ID, c.Name, c.Phone, c.Email, c.WeComID, c.Tier, tags, attrs,
		boolInt(c.Member), ms(joined), c.Birthday, c.Guide, optOut, ms(now), keep); err != nil {
		return fmt.Errorf("upsert customer %s: %w", c.ID, err)
	}
	return nil
}

// InsertEvents stores events in one transaction, idempotently: an event whose
// id is already stored is skipped. An event of an unknown customer is not
// stored and reported in itemErrs at its index; the others are kept.
func (d *DB) InsertEvents(ctx context.Context, evs []domain.Event) (inserted int, itemErrs map[int]error, err error) {
	res, err := d.AddEvents(ctx, evs, nil)
	if err != nil {
		return 0, nil, err
	}
	for _, ok := range res.Inserted {
		if ok {
			inserted++
		}
	}
	return inserted, res.ItemErrs, nil
}

func scanCustomer(row interface{ Scan(...any) error }) (domain.Customer, error) {
	var c domain.Customer
	var tags, attrs, optOut string
	var joined int64
	var member int
	if err := row.Scan(&c.ID, &c.Name, &c.Phone, &c.Email, &c.WeComID, &c.Tier, &tags, &attrs, &member, &joined, &c.Birthday, &c.Guide, &optOut); err != nil {
		return c, err
	}
	if optOut != "[]" && optOut != "" {
		if err := json.Unmarshal([]byte(optOut), &c.OptOut); err != nil {
			return c, fmt.Errorf("customer %s: opt_out: %w", c.ID, err)
		}
	}
	c.Member = member != 0
	c.JoinedAt = fromMs(joined)
	var err error
	if c.Tags, err = decodeTags(c.ID, tags); err != nil {
		return c, err
	}
	if attrs != "{}" && attrs != "" {
		if err := json.Unmarshal([]byte(attrs), &c.Attrs); err != nil {
			return c, fmt.Errorf("customer %s: attrs: %w", c.ID, err)
		}
	}
	return c, nil
}

// GetCustomer reads one stored customer.
func (d *DB) GetCustomer(ctx context.Context, id string) (*domain.Customer, error) {
	// A merged id reads its survivor.
	c, err := scanCustomer(d.db.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers_now
		WHERE id = coalesce((SELECT customer_id FROM customer_aliases WHERE alias = ?1), ?1)`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no customer %q", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("read customer %s: %w", id, err)
	}
	return &c, nil
}

// Counts returns the number of customers and events stored.
func (d *DB) Counts(ctx context.Context) (customers, events int, err error) {
	if err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&customers); err != nil {
		return
	}
	err = d.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&events)
	return
}

// decodeTags decodes a customer's tags column ("[]" or empty: none).
func decodeTags(id, raw string) ([]string, error) {
	if raw == "" || raw == "[]" {
		return nil, nil
	}
	var tags []string
	if err := json.Unmarshal([]byte(raw), &tags); err != nil {
		return nil, fmt.Errorf("customer %s: tags: %w", id, err)
	}
	return tags, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetOptOut opts a customer out of a channel, or back in.
func (d *DB) SetOptOut(ctx context.Context, customerID, channel string, out bool) (_ int64, _ []string, err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("begin: %w", err)
	}
	defer end()
	var raw string
	err = tx.QueryRowContext(ctx, `SELECT opt_out FROM customers WHERE id = ?`, customerID).Scan(&raw)
	if err == sql.ErrNoRows {
		return 0, nil, &domain.Error{Code: domain.ENotFound, Field: "id", Message: fmt.Sprintf("no customer %q", customerID)}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read opt-outs of %s: %w", customerID, err)
	}
	var list []string
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return 0, nil, fmt.Errorf("customer %s: opt_out: %w", customerID, err)
	}
	if out {
		list = profile.UnionOptOut(list, []string{channel})
	} else {
		list = slices.DeleteFunc(list, func(c string) bool { return c == channel })
	}
	enc, _ := json.Marshal(append([]string{}, list...))
	if _, err := tx.ExecContext(ctx, `UPDATE customers SET opt_out = ?, updated_at = max(updated_at, ?) WHERE id = ?`, string(enc), ms(time.Now()), customerID); err != nil {
		return 0, nil, fmt.Errorf("set opt-outs of %s: %w", customerID, err)
	}
	version, err := bumpVersion(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	if err := d.commit(tx); err != nil {
		return 0, nil, fmt.Errorf("commit: %w", err)
	}
	return version, list, nil
}

// CountCustomersWith counts the customers whose contact field (phone,
// email or wecom_id) is set: lint's check that a channel can reach anyone.
func (d *DB) CountCustomersWith(ctx context.Context, field string) (int, error) {
	switch field {
	case "phone", "email", "wecom_id":
	default:
		return 0, fmt.Errorf("count customers: unknown contact field %q", field)
	}
	var n int
	// The field is one of the three above, never input: safe to splice.
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE `+field+` != ''`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count customers with %s: %w", field, err)
	}
	return n, nil
}

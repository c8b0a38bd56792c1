package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

var _ engine.JobStore = (*DB)(nil)

// insertJobs writes the batch's jobs into the outbox, due now or their
// Delay after it (a message held for quiet hours). A job whose
// key exists was enqueued by an earlier run of the same fire and is left
// as it is.
//
// Due now means by the wall clock when the run is at a future time (koi
// run --at): the run's coupons and tags are written now, so its messages
// go now too, rather than waiting for a time that was only simulated.
func (f *fireTx) insertJobs(jobs []domain.NewJob) error {
	now := ms(f.now)
	due := min(now, ms(time.Now()))
	var box boxes
	start := 0
	for _, size := range chunkSizes(len(jobs)) {
		chunk := jobs[start : start+size]
		start += size
		args := f.argBuf(13 * len(chunk))
		for _, j := range chunk {
			args = append(args, j.Key, box.string(j.Kind), box.string(j.Channel), j.FireID, box.string(j.Playbook), box.string(j.Rule),
				j.CustomerID, string(j.Payload), box.string(j.Batch), j.MaxAttempts, box.int64(due+j.Delay.Milliseconds()), box.int64(now), box.int64(now))
		}
		if _, err := f.exec(f.db.multiRow(`INSERT OR FAIL INTO jobs (key, kind, channel, fire_id, playbook, rule, customer_id, payload, batch, max_attempts, run_at, created_at, updated_at)
			VALUES `, len(chunk), 13, ` ON CONFLICT (key) DO NOTHING`), args); err != nil {
			return fmt.Errorf("insert jobs: %w", err)
		}
	}
	return nil
}

// insertTxJobs writes jobs due at now (or by the wall clock, when now is
// later) into the outbox in tx, as insertJobs does for a batch of fires:
// a job whose key exists is left as it is.
func insertTxJobs(ctx context.Context, tx *sql.Tx, at time.Time, jobs []domain.NewJob) error {
	now := min(ms(at), ms(time.Now()))
	for _, j := range jobs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (key, kind, channel, fire_id, playbook, rule, customer_id, payload, batch, max_attempts, run_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			j.Key, j.Kind, j.Channel, j.FireID, j.Playbook, j.Rule, j.CustomerID, string(j.Payload), j.Batch, j.MaxAttempts, now+j.Delay.Milliseconds(), now, now); err != nil {
			return fmt.Errorf("insert jobs: %w", err)
		}
	}
	return nil
}

const jobColumns = `id, key, kind, channel, fire_id, playbook, rule, customer_id, payload, state, attempts, max_attempts, run_at, created_at, updated_at, last_error,
	batch, receipt, tracked_at, reminders, reminded_at, cancel, sent_at`

func scanJob(s interface{ Scan(...any) error }) (*domain.Job, error) {
	j := &domain.Job{}
	var payload string
	var runAt, created, updated, tracked, reminded, sent int64
	if err := s.Scan(&j.ID, &j.Key, &j.Kind, &j.Channel, &j.FireID, &j.Playbook, &j.Rule, &j.CustomerID, &payload, &j.State,
		&j.Attempts, &j.MaxAttempts, &runAt, &created, &updated, &j.LastError,
		&j.Batch, &j.Receipt, &tracked, &j.Reminders, &reminded, &j.Cancel, &sent); err != nil {
		return nil, err
	}
	j.Payload = json.RawMessage(payload)
	j.RunAt, j.CreatedAt, j.UpdatedAt = fromMs(runAt), fromMs(created), fromMs(updated)
	j.TrackedAt, j.RemindedAt, j.SentAt = fromMsOrZero(tracked), fromMsOrZero(reminded), fromMsOrZero(sent)
	return j, nil
}

// fromMsOrZero is fromMs, with 0 the zero time: columns that are 0 until
// something happens.
func fromMsOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMs(v)
}

func (d *DB) queryJobs(ctx context.Context, query string, args ...any) ([]*domain.Job, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*domain.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// DueJobs returns up to limit pending jobs due at now, earliest first.
func (d *DB) DueJobs(ctx context.Context, now time.Time, limit int) ([]*domain.Job, error) {
	jobs, err := d.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE state = 'pending' AND run_at <= ? ORDER BY run_at, id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due jobs: %w", err)
	}
	return jobs, nil
}

// FinishJobs records delivery outcomes with one statement per chunk.
func (d *DB) FinishJobs(ctx context.Context, now time.Time, outcomes []domain.JobOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("finish jobs: begin: %w", err)
	}
	defer end()
	start := 0
	for _, size := range chunkSizes(len(outcomes)) {
		chunk := outcomes[start : start+size]
		start += size
		args := make([]any, 0, 1+6*len(chunk))
		args = append(args, ms(now))
		for _, o := range chunk {
			args = append(args, o.ID, string(o.State), o.Attempts, ms(o.RunAt), o.LastError, o.Receipt)
		}
		// A job the channel accepted to track (task_created) is tracked
		// from now.
		s, err := d.stmt(ctx, tx, d.multiRow(`UPDATE jobs SET state = v.column2, attempts = v.column3, run_at = v.column4, last_error = v.column5, updated_at = ?1,
			receipt = v.column6, tracked_at = iif(v.column2 = 'task_created', ?1, 0)
			FROM (VALUES `, len(chunk), 6, `) AS v WHERE jobs.id = v.column1 AND jobs.state = 'pending'`))
		if err != nil {
			return fmt.Errorf("finish jobs: %w", err)
		}
		if _, err := s.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("finish jobs: %w", err)
		}
		if err := syncContacts(ctx, d, tx, chunkIDs(chunk, func(o domain.JobOutcome) int64 { return o.ID })); err != nil {
			return fmt.Errorf("finish jobs: %w", err)
		}
	}
	if err := d.commit(tx); err != nil {
		return fmt.Errorf("finish jobs: commit: %w", err)
	}
	return nil
}

// chunkIDs returns the job ids of a chunk of outcomes.
func chunkIDs[T any](chunk []T, id func(T) int64) string {
	ids := make([]int64, len(chunk))
	for i, o := range chunk {
		ids[i] = id(o)
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// syncContacts copies the state of jobs ids (a JSON array) to their
// messages in the contact history, so that reports and the customer's
// history say what became of each message after the jobs are purged.
func syncContacts(ctx context.Context, d *DB, tx *sql.Tx, ids string) error {
	s, err := d.stmt(ctx, tx, `UPDATE contacts SET state = j.state
		FROM jobs j WHERE j.id IN (SELECT value FROM json_each(?)) AND contacts.job_key = j.key AND contacts.job_key != ''`)
	if err != nil {
		return err
	}
	if _, err := s.ExecContext(ctx, ids); err != nil {
		return fmt.Errorf("sync contact history: %w", err)
	}
	return nil
}

// DueBatch returns the due pending jobs of one batch key.
func (d *DB) DueBatch(ctx context.Context, batch string, now time.Time, limit int) ([]*domain.Job, error) {
	jobs, err := d.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE batch = ? AND state = 'pending' AND batch != '' AND run_at <= ? ORDER BY run_at, id LIMIT ?`,
		batch, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due batch: %w", err)
	}
	return jobs, nil
}

// TrackedJobs returns jobs waiting in task_created on a channel.
func (d *DB) TrackedJobs(ctx context.Context, channel string, limit int) ([]*domain.Job, error) {
	jobs, err := d.queryJobs(ctx, `SELECT `+jobColumns+` FROM jobs WHERE channel = ? AND state = 'task_created' ORDER BY tracked_at, id LIMIT ?`, channel, limit)
	if err != nil {
		return nil, fmt.Errorf("tracked jobs: %w", err)
	}
	return jobs, nil
}

// FinishTracked records what became of tracked jobs.
func (d *DB) FinishTracked(ctx context.Context, now time.Time, outcomes []domain.TrackOutcome) (err error) {
	if len(outcomes) == 0 {
		return nil
	}
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("finish tracked jobs: begin: %w", err)
	}
	defer end()
	start := 0
	for _, size := range chunkSizes(len(outcomes)) {
		chunk := outcomes[start : start+size]
		start += size
		args := make([]any, 0, 1+5*len(chunk))
		args = append(args, ms(now))
		for _, o := range chunk {
			sent := int64(0)
			if !o.SentAt.IsZero() {
				sent = ms(o.SentAt)
			}
			args = append(args, o.ID, string(o.State), sent, o.Reminded, o.Note)
		}
		// Handed over again (pending): the receipt and the tracking go,
		// the job is due now. Reminded: one more reminder, now.
		s, err := d.stmt(ctx, tx, d.multiRow(`UPDATE jobs SET state = v.column2, updated_at = ?1,
			sent_at = iif(v.column3 > 0, v.column3, jobs.sent_at),
			reminders = jobs.reminders + v.column4, reminded_at = iif(v.column4, ?1, jobs.reminded_at),
			last_error = iif(v.column5 != '', v.column5, jobs.last_error),
			receipt = iif(v.column2 = 'pending', '', jobs.receipt), tracked_at = iif(v.column2 = 'pending', 0, jobs.tracked_at),
			cancel = iif(v.column2 = 'task_created', jobs.cancel, ''), run_at = iif(v.column2 = 'pending', ?1, jobs.run_at)
			FROM (VALUES `, len(chunk), 5, `) AS v WHERE jobs.id = v.column1 AND jobs.state = 'task_created'`))
		if err != nil {
			return fmt.Errorf("finish tracked jobs: %w", err)
		}
		if _, err := s.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("finish tracked jobs: %w", err)
		}
		if err := syncContacts(ctx, d, tx, chunkIDs(chunk, func(o domain.TrackOutcome) int64 { return o.ID })); err != nil {
			return fmt.Errorf("finish tracked jobs: %w", err)
		}
	}
	if err := d.commit(tx); err != nil {
		return fmt.Errorf("finish tracked jobs: commit: %w", err)
	}
	return nil
}

// Contacts reads how to reach customers.
func (d *DB) Contacts(ctx context.Context, ids []string) (map[string]actions.Contact, error) {
	out := make(map[string]actions.Contact, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	enc, _ := json.Marshal(ids)
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, phone, email, wecom_id, guide, opt_out FROM customers_now WHERE id IN (SELECT value FROM json_each(?))`, string(enc))
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c actions.Contact
		var optOut string
		if err := rows.Scan(&c.CustomerID, &c.Name, &c.Phone, &c.Email, &c.WeComID, &c.Guide, &optOut); err != nil {
			return nil, fmt.Errorf("read contacts: %w", err)
		}
		if optOut != "[]" && optOut != "" {
			if err := json.Unmarshal([]byte(optOut), &c.OptOut); err != nil {
				return nil, fmt.Errorf("customer %s: opt_out: %w", c.CustomerID, err)
			}
		}
		out[c.CustomerID] = c
	}
	return out, rows.Err()
}

// CustomerTags reads customers' tags now.
func (d *DB) CustomerTags(ctx context.Context, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	enc, _ := json.Marshal(ids)
	rows, err := d.db.QueryContext(ctx, `SELECT id, tags FROM customers_now WHERE id IN (SELECT value FROM json_each(?))`, string(enc))
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("read tags: %w", err)
		}
		tags, err := decodeTags(id, raw)
		if err != nil {
			return nil, err
		}
		out[id] = tags
	}
	return out, rows.Err()
}

// ListJobs lists jobs newest first.
func (d *DB) ListJobs(ctx context.Context, f domain.JobFilter) ([]*domain.Job, error) {
	var lq listQuery
	lq.when(f.State != "", "state = ?", string(f.State))
	lq.when(f.Kind != "", "kind = ?", f.Kind)
	lq.when(f.Playbook != "", "playbook = ?", f.Playbook)
	lq.when(f.CustomerID != "", "customer_id = ?", f.CustomerID)
	lq.when(f.FireID != 0, "fire_id = ?", f.FireID)
	lq.when(f.Before > 0, "id < ?", f.Before)
	q, args := lq.sql(jobColumns, "jobs", "id", domain.PageLimit(f.Limit))
	jobs, err := d.queryJobs(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// CountJobs counts the jobs in each state (engine.JobStore). It reads the
// whole table: callers that show it often keep the answer a while.
func (d *DB) CountJobs(ctx context.Context) (map[domain.JobState]int, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	out := map[domain.JobState]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out[domain.JobState(st)] = n
	}
	return out, rows.Err()
}

// GetJob reads one job.
func (d *DB) GetJob(ctx context.Context, id int64) (*domain.Job, error) {
	j, err := scanJob(d.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no job %d", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("get job: %w", err)
	}
	return j, nil
}

// RetryJob makes a finished job pending again, due now, attempts reset.
func (d *DB) RetryJob(ctx context.Context, id int64, now time.Time) (*domain.Job, error) {
	return d.moveJob(ctx, id, "retry", `state NOT IN ('pending', 'task_created')`,
		`UPDATE jobs SET state = 'pending', attempts = 0, run_at = ?1, updated_at = ?1, last_error = '',
			receipt = '', tracked_at = 0, reminders = 0, reminded_at = 0, cancel = '', sent_at = 0 WHERE id = ?2`, now)
}

// CancelJob cancels a pending job, or marks a tracked one to be stopped.
func (d *DB) CancelJob(ctx context.Context, id int64, now time.Time) (*domain.Job, error) {
	return d.moveJob(ctx, id, "cancel", `state IN ('pending', 'task_created')`,
		`UPDATE jobs SET state = iif(state = 'pending', 'cancelled', state), updated_at = ?1,
			last_error = iif(state = 'pending', 'cancelled by an operator', last_error),
			cancel = iif(state = 'task_created', 'cancelled by an operator', '') WHERE id = ?2`, now)
}

// moveJob applies update to job id when it is in a state matching cond.
func (d *DB) moveJob(ctx context.Context, id int64, verb, cond, update string, now time.Time) (_ *domain.Job, err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s job: begin: %w", verb, err)
	}
	defer end()
	var state string
	var ok bool
	err = tx.QueryRowContext(ctx, `SELECT state, `+cond+` FROM jobs WHERE id = ?`, id).Scan(&state, &ok)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("no job %d", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("%s job: %w", verb, err)
	}
	if !ok {
		return nil, &domain.Error{Code: domain.EConflict, Message: fmt.Sprintf("job %d is %s: nothing to %s", id, state, verb)}
	}
	if _, err := tx.ExecContext(ctx, update, ms(now), id); err != nil {
		return nil, fmt.Errorf("%s job: %w", verb, err)
	}
	if err := syncContacts(ctx, d, tx, fmt.Sprintf("[%d]", id)); err != nil {
		return nil, fmt.Errorf("%s job: %w", verb, err)
	}
	if err := d.commit(tx); err != nil {
		return nil, fmt.Errorf("%s job: commit: %w", verb, err)
	}
	return d.GetJob(ctx, id)
}

// PurgeJobs deletes finished jobs last updated before t.
func (d *DB) PurgeJobs(ctx context.Context, before time.Time) (int, error) {
	res, err := d.execWrite(ctx, `DELETE FROM jobs WHERE state NOT IN ('pending', 'task_created', 'dead') AND updated_at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// LockDispatch takes the dispatch lock, a file lock next to the database.
func (d *DB) LockDispatch() (func(), bool, error) {
	f, ok, err := tryLockFile(d.path + "-dispatch.lock")
	if err != nil || !ok {
		return nil, ok, err
	}
	return func() { f.Close() }, true, nil
}

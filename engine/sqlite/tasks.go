package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

var _ engine.TaskStore = (*DB)(nil)

// insertTasks writes the batch's guide tasks. A task whose key exists was
// created by an earlier run of the same fire and is left as it is.
func (f *fireTx) insertTasks(tasks []domain.NewTask) error {
	now := ms(f.now)
	start := 0
	for _, size := range chunkSizes(len(tasks)) {
		chunk := tasks[start : start+size]
		start += size
		args := f.argBuf(9 * len(chunk))
		for _, t := range chunk {
			args = append(args, t.Key, t.Guide, t.CustomerID, t.FireID, t.Playbook, t.Rule, t.Note, ms(t.DueAt), now)
		}
		if _, err := f.exec(f.db.multiRow(`INSERT INTO tasks (key, guide, customer_id, fire_id, playbook, rule, note, due_at, created_at)
			VALUES `, len(chunk), 9, ` ON CONFLICT (key) DO NOTHING`), args); err != nil {
			return fmt.Errorf("insert tasks: %w", err)
		}
	}
	return nil
}

// GuideLoads counts open tasks by guide and finds the latest task's guide.
func (f *fireTx) GuideLoads() (map[string]int, string, error) {
	open, err := guideLoad(f.ctx, f.tx)
	if err != nil {
		return nil, "", err
	}
	var last sql.NullString
	if err := f.tx.QueryRowContext(f.ctx, `SELECT guide FROM tasks ORDER BY id DESC LIMIT 1`).Scan(&last); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("read last task: %w", err)
	}
	return open, last.String, nil
}

func guideLoad(ctx context.Context, q querier) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT guide, count(*) FROM tasks WHERE state = 'open' GROUP BY guide`)
	if err != nil {
		return nil, fmt.Errorf("read guide loads: %w", err)
	}
	defer rows.Close()
	open := map[string]int{}
	for rows.Next() {
		var g string
		var n int
		if err := rows.Scan(&g, &n); err != nil {
			return nil, fmt.Errorf("read guide loads: %w", err)
		}
		open[g] = n
	}
	return open, rows.Err()
}

// GuideLoad counts the open tasks of each guide that has any.
func (d *DB) GuideLoad(ctx context.Context) (map[string]int, error) {
	return guideLoad(ctx, d.db)
}

const taskColumns = `id, guide, customer_id, note, due_at, state, fire_id, playbook, rule, created_at, done_at`

func scanTask(s interface{ Scan(...any) error }) (*domain.Task, error) {
	t := &domain.Task{}
	var due, created int64
	var done sql.NullInt64
	if err := s.Scan(&t.ID, &t.Guide, &t.CustomerID, &t.Note, &due, &t.State, &t.FireID, &t.Playbook, &t.Rule, &created, &done); err != nil {
		return nil, err
	}
	t.DueAt, t.CreatedAt = fromMs(due), fromMs(created)
	if done.Valid {
		t.DoneAt = fromMs(done.Int64)
	}
	return t, nil
}

// ListTasks lists a guide's tasks in the order they were created.
func (d *DB) ListTasks(ctx context.Context, f domain.TaskFilter) ([]*domain.Task, error) {
	q := `SELECT ` + taskColumns + ` FROM tasks WHERE guide = ? AND id > ?`
	args := []any{f.Guide, f.After}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, domain.PageLimit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	var out []*domain.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CompleteTask marks a guide's open task done.
func (d *DB) CompleteTask(ctx context.Context, guide string, id int64, now time.Time) (_ *domain.Task, err error) {
	defer unavailableOn(&err)
	tx, end, err := d.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("complete task: begin: %w", err)
	}
	defer end()
	t, err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ? AND guide = ?`, id, guide))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &domain.Error{Code: domain.ENotFound, Message: fmt.Sprintf("guide %q has no task %d", guide, id)}
	}
	if err != nil {
		return nil, fmt.Errorf("complete task: %w", err)
	}
	if t.State != domain.TaskOpen {
		return nil, &domain.Error{Code: domain.EConflict, Message: fmt.Sprintf("task %d is %s already", id, t.State)}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tasks SET state = 'done', done_at = ? WHERE id = ?`, ms(now), id); err != nil {
		return nil, fmt.Errorf("complete task: %w", err)
	}
	if err := d.commit(tx); err != nil {
		return nil, fmt.Errorf("complete task: commit: %w", err)
	}
	t.State, t.DoneAt = domain.TaskDone, fromMs(ms(now))
	return t, nil
}

package sqlite

import (
	"context"
	"fmt"

	"github.com/koihq/koi/engine/domain"
)

// RecordPlaybookSave records that s.By saved content s.Hash of file
// s.File at s.At (engine.Store).
func (d *DB) RecordPlaybookSave(ctx context.Context, s domain.PlaybookSave) error {
	if _, err := d.execWrite(ctx, `INSERT INTO playbook_saves (file, hash, saved_by, saved_at) VALUES (?, ?, ?, ?)`,
		s.File, s.Hash, s.By, ms(s.At)); err != nil {
		return fmt.Errorf("record playbook save: %w", err)
	}
	return nil
}

// PlaybookSaves returns the latest saves of file, newest first, at most
// limit (engine.Store).
func (d *DB) PlaybookSaves(ctx context.Context, file string, limit int) ([]domain.PlaybookSave, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT file, hash, saved_by, saved_at FROM playbook_saves WHERE file = ? ORDER BY id DESC LIMIT ?`,
		file, domain.PageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read playbook saves: %w", err)
	}
	defer rows.Close()
	var out []domain.PlaybookSave
	for rows.Next() {
		var s domain.PlaybookSave
		var at int64
		if err := rows.Scan(&s.File, &s.Hash, &s.By, &at); err != nil {
			return nil, fmt.Errorf("read playbook saves: %w", err)
		}
		s.At = fromMs(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements by their text. The multi-row
// statements of the write path are long, and parsing one costs SQLite about
// as much as executing it; the pool prepares each once per connection.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns query prepared for tx, preparing it on first use.
func (d *DB) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	d.stmts.mu.Lock()
	defer d.stmts.mu.Unlock()
	s, ok := d.stmts.m[query]
	if !ok {
		var err error
		if s, err = d.db.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		if d.stmts.m == nil {
			d.stmts.m = map[string]*sql.Stmt{}
		}
		d.stmts.m[query] = s
	}
	return tx.StmtContext(ctx, s), nil
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}

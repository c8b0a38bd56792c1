package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The write path's multi-row statements bind thousands of values each.
// Through database/sql every Exec converts its []any into a fresh
// []driver.NamedValue (40 bytes a value): at a million customers a run's
// fires, coupons and changes made 51 MB of it, a quarter of all a run
// allocated, and with a 600 MB pond in memory each garbage collection
// costs about 0.25 s of CPU. rawStmts runs them on the write connection's
// driver connection instead, with one reused argument slice.
//
// It runs inside the transaction open on that connection (beginWrite),
// which database/sql cannot roll back behind its back: beginWrite begins
// it with a context that is never cancelled, so the only rollback is the
// writer's own, after its last statement.

// rawStmts holds the write connection's driver-level prepared statements
// and the argument slice they bind. Only the writer holding writeSlot uses
// it; mu makes that plain to the race detector and to readers.
type rawStmts struct {
	mu   sync.Mutex
	m    map[string]driver.Stmt
	args []driver.NamedValue
}

// execRaw runs query with args in the transaction open on the write
// connection, preparing it there on first use.
func (d *DB) execRaw(ctx context.Context, query string, args []any) (driver.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &d.raw
	r.mu.Lock()
	defer r.mu.Unlock()
	r.args = r.args[:0]
	for i, a := range args {
		v, err := driverValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		r.args = append(r.args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	var res driver.Result
	err := d.writeConn.Raw(func(dc any) error {
		st, ok := r.m[query]
		if !ok {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return errors.New("the driver cannot prepare statements with a context")
			}
			var err error
			if st, err = p.PrepareContext(ctx, query); err != nil {
				return err
			}
			if r.m == nil {
				r.m = map[string]driver.Stmt{}
			}
			r.m[query] = st
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			return errors.New("the driver cannot execute statements with a context")
		}
		var err error
		res, err = ex.ExecContext(ctx, r.args)
		return err
	})
	clear(r.args) // let the batch's strings go
	return res, err
}

// driverValue converts a to one of the types database/sql/driver defines,
// as database/sql would for the types the write path binds.
func driverValue(a any) (driver.Value, error) {
	switch v := a.(type) {
	case nil, int64, float64, bool, string, []byte, time.Time:
		return v, nil
	case int:
		return int64(v), nil
	case sql.NullString:
		if !v.Valid {
			return nil, nil
		}
		return v.String, nil
	case sql.NullInt64:
		if !v.Valid {
			return nil, nil
		}
		return v.Int64, nil
	}
	return nil, fmt.Errorf("unsupported type %T", a)
}

// close finalizes the prepared statements, before the connection closes.
func (r *rawStmts) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.m {
		st.Close()
	}
	r.m = nil
}

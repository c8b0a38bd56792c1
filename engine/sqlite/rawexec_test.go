package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// A statement run on the driver connection after the writer's context
// was cancelled is still inside the writer's transaction: database/sql
// did not roll it back behind the writer's back, so the statement does
// not commit on its own and the writer's rollback takes it back.
func TestRawStatementsStayInTheWritersTransaction(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cctx, cancel := context.WithCancel(ctx)
	_, end, err := d.beginWrite(cctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// database/sql rolls a transaction back from its own goroutine once
	// its context is done; give it the time to.
	time.Sleep(50 * time.Millisecond)
	if _, err := d.execRaw(cctx, `INSERT INTO customers (id, joined_at, updated_at) VALUES ('raw', 0, 0)`, nil); err == nil {
		t.Error("execRaw ran with a cancelled context")
	}
	// The window between execRaw's check and its statement, forced.
	if _, err := d.execRaw(ctx, `INSERT INTO customers (id, joined_at, updated_at) VALUES ('raw', 0, 0)`, nil); err != nil {
		t.Fatal(err)
	}
	end()
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE id = 'raw'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a statement after the cancelled writer's rollback committed on its own")
	}
}

// The write path's argument types reach the driver as database/sql
// would pass them; anything else is refused, naming its position.
func TestDriverValues(t *testing.T) {
	for _, a := range []any{nil, int64(1), 1, 1.5, true, "s", []byte("b"), time.Unix(0, 0)} {
		if _, err := driverValue(a); err != nil {
			t.Errorf("%T: %v", a, err)
		}
	}
	if v, _ := driverValue(7); v != int64(7) {
		t.Errorf("int 7 became %#v", v)
	}
	if _, err := driverValue(struct{}{}); err == nil {
		t.Error("a struct was passed through")
	}
}

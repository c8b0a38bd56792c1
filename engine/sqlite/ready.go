package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// Ready reports whether the database can be read and written now: it
// reads the pond version and writes a row of its own. A write that only
// waited for the lock past the probe's time is busy, not broken: that is
// ready. /readyz answers with it.
func (d *DB) Ready(ctx context.Context) error {
	if _, err := d.PondVersion(ctx); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	tx, end, err := d.beginWrite(ctx)
	if err == nil {
		defer end()
		if _, err = tx.ExecContext(ctx, `INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, ms(time.Now())); err == nil {
			err = d.commit(tx)
		}
		err = unavailable(err)
	}
	var ee *domain.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return nil // busy: writes queue, they do not fail
	case isBusy(err):
		return nil // busy in another process
	case errors.As(err, &ee):
		return fmt.Errorf("write: %s", ee.Message)
	}
	return fmt.Errorf("write: %w", err)
}

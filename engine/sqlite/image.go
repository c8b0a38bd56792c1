package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/koihq/koi/engine/profile"
)

// The pond image (see profile.ReadImage) lives beside the database as
// DB.ImagePath. LoadPond reads it instead of the tables when it names the
// database's current pond version; otherwise, and when it is damaged, the
// tables are read and the image removed, so a stale one never outlives
// the next load. Replace removes it with the database it replaces.

// ImagePath is where the database's pond image is kept.
func (d *DB) ImagePath() string { return imagePath(d.path) }

func imagePath(dbPath string) string { return dbPath + ".pond" }

// loadImage returns the pond of the image when it reflects version, and
// nil (having removed the image) when it does not or cannot be read.
func (d *DB) loadImage(ctx context.Context, version int64) *profile.Pond {
	path := d.ImagePath()
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("pond image unreadable; loading from the database", "path", path, "err", err)
		}
		return nil
	}
	var (
		p                *profile.Pond
		origin, identity [16]byte
	)
	identity, err = d.identity(ctx)
	if err != nil {
		f.Close()
		d.log.Warn("pond image not read: the database's identity is unreadable", "err", err)
		return nil
	}
	st, err := f.Stat()
	if err == nil {
		// A decode allocates what the pond keeps, a gigabyte at a million
		// customers, and next to no garbage: collecting meanwhile (every
		// 30% of growth, with koi's GOGC) only marked the growing heap
		// again and again, a second of a 2.7 s start-up.
		gc := debug.SetGCPercent(-1)
		p, origin, err = profile.ReadImage(f, st.Size())
		debug.SetGCPercent(gc)
	}
	f.Close()
	switch {
	case err != nil:
		d.log.Warn("pond image damaged; loading from the database", "path", path, "err", err)
	case origin != identity:
		d.log.Info("pond image of another database; loading from the database", "path", path)
	case p.Version != version:
		d.log.Info("pond image out of date; loading from the database", "path", path, "image", p.Version, "database", version)
	default:
		return p
	}
	_ = os.Remove(path)
	return nil
}

// SavePondImage writes v as the database's pond image, replacing the old
// one all at once: a crash leaves the old image or the new one, never a
// part (and a part would fail its checksum). A view of a pond version the
// database has moved past is not written.
func (d *DB) SavePondImage(ctx context.Context, v *profile.ImageView) error {
	current, err := d.PondVersion(ctx)
	if err != nil {
		return err
	}
	if v.Version() != current {
		return nil
	}
	path := d.ImagePath()
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save pond image: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	identity, err := d.identity(ctx)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := v.WriteImage(tmp, identity); err != nil {
		tmp.Close()
		return fmt.Errorf("save pond image: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save pond image: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save pond image: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save pond image: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// identity returns the database's identity (see migration 0016).
func (d *DB) identity(ctx context.Context) (id [16]byte, err error) {
	var b []byte
	if err := d.db.QueryRowContext(ctx, `SELECT value FROM database_identity WHERE id = 1`).Scan(&b); err != nil {
		return id, fmt.Errorf("read database identity: %w", err)
	}
	if len(b) != len(id) {
		return id, fmt.Errorf("database identity of %d bytes", len(b))
	}
	copy(id[:], b)
	return id, nil
}

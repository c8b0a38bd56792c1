//go:build !unix

package sqlite

import "os"

// tryLockFile opens the lock file without locking it: there is no flock
// here. Several processes may then compact at once; registering a run
// checks that what it replaces is unchanged, so the runs stay right, but
// builds can be wasted.
func tryLockFile(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	return f, true, nil
}

// lockShared opens the lock file without locking it: without flock,
// Replace cannot tell that another process has the database open.
func lockShared(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// Package watch tells when files in a directory change, with fsnotify.
// Editors save in bursts (write a temporary file, rename it over the old
// one, touch it again), so changes are reported once they settle.
//
// Watching is two steps, New and Run, so that a caller knows the
// directory is watched before it goes on (a change made after New returns
// is seen), and runs the reporting loop in a goroutine it owns and joins:
// Run returns only when its context ends, with the watcher closed.
package watch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher watches one directory. Run it, or Close it, to release it.
type Watcher struct {
	w   *fsnotify.Watcher
	dir string
}

// New watches dir. The directory is watched, not its files, so a file
// replaced by a rename is still seen.
func New(dir string) (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	return &Watcher{w: w, dir: dir}, nil
}

// Run calls changed after files whose name match reports true are
// created, written, renamed or removed, once no further change came for
// settle. changed runs on Run's goroutine, so a slow one delays the next
// report rather than overlapping it. Run returns when ctx ends, or when
// the watcher fails for good, and closes the watcher either way, waiting
// for fsnotify's own goroutine to end.
func (w *Watcher) Run(ctx context.Context, settle time.Duration, match func(name string) bool, log *slog.Logger, changed func()) error {
	defer w.w.Close()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.w.Events:
			if !ok {
				return fmt.Errorf("watch %s: the watcher closed", w.dir)
			}
			if !match(ev.Name) || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(settle)
			} else {
				timer.Reset(settle)
			}
			fire = timer.C
		case err, ok := <-w.w.Errors:
			if !ok {
				return fmt.Errorf("watch %s: the watcher closed", w.dir)
			}
			log.Warn("watching playbooks", "dir", w.dir, "err", err)
		case <-fire:
			fire = nil
			changed()
		}
	}
}

// Close stops watching, for a watcher that is not run.
func (w *Watcher) Close() error { return w.w.Close() }

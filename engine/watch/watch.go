// Package watch tells when files in a directory change, with fsnotify.
// Editors save in bursts (write a temporary file, rename it over the old
// one, touch it again), so changes are reported once they settle.
package watch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Dir calls changed after files in dir whose name match reports true
// are created, written, renamed or removed, once no further change came
// for settle. It returns when ctx ends. The directory is watched, not the
// files, so a file replaced by a rename is still seen.
func Dir(ctx context.Context, dir string, settle time.Duration, match func(name string) bool, log *slog.Logger, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
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
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("watching playbooks", "dir", dir, "err", err)
			case <-fire:
				fire = nil
				changed()
			}
		}
	}()
	return nil
}

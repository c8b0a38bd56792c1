package dispatch

import (
	"log/slog"
	"time"
)

// throttledLog logs a failure that repeats at most once per interval: the
// first at once, then a line per interval saying how many were left out.
// A failing disk must not turn into a flood of identical log lines.
type throttledLog struct {
	log        *slog.Logger
	interval   time.Duration
	last       time.Time
	suppressed int
}

func newThrottledLog(log *slog.Logger, interval time.Duration) *throttledLog {
	return &throttledLog{log: log, interval: interval}
}

// failed logs msg unless a line was logged within the interval.
func (t *throttledLog) failed(msg string, args ...any) {
	now := time.Now()
	if !t.last.IsZero() && now.Sub(t.last) < t.interval {
		t.suppressed++
		return
	}
	if t.suppressed > 0 {
		args = append(args, "repeats_not_logged", t.suppressed)
	}
	t.log.Error(msg, args...)
	t.last, t.suppressed = now, 0
}

// recovered logs that the failure is over, and starts afresh.
func (t *throttledLog) recovered(msg string, args ...any) {
	if t.suppressed > 0 {
		args = append(args, "repeats_not_logged", t.suppressed)
	}
	t.log.Info(msg, args...)
	t.last, t.suppressed = time.Time{}, 0
}

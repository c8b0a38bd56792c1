package profile

import (
	"fmt"
	"sync"
	"time"

	"github.com/koihq/koi/actions"
)

var windowCache sync.Map // string -> time.Duration

// parseWindow parses a window such as "7d"; results are cached because
// count() runs for every customer.
func parseWindow(s string) (time.Duration, error) {
	if d, ok := windowCache.Load(s); ok {
		return d.(time.Duration), nil
	}
	d, err := actions.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("window %q must be positive", s)
	}
	windowCache.Store(s, d)
	return d, nil
}

// wholeDays is floor(elapsed / 24h): how koi counts days everywhere.
func wholeDays(elapsed time.Duration) int {
	d := elapsed / (24 * time.Hour)
	if elapsed < 0 && elapsed%(24*time.Hour) != 0 {
		d--
	}
	return int(d)
}

package profile

import (
	"fmt"
	"time"

	"github.com/koihq/koi/actions"
)

// parseWindow parses a window such as "7d". It is not cached: parsing
// "7d" costs less than a concurrent map lookup did, and a cache keyed by
// whatever an expression passes (count("visit", name)) would grow without
// bound.
func parseWindow(s string) (time.Duration, error) {
	d, err := actions.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("window %q must be positive", s)
	}
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

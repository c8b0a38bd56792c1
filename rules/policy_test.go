package rules_test

import (
	"testing"
	"time"

	"github.com/koihq/koi/rules"
)

// NextAllowed moves a moment inside quiet hours to their end, on the
// right local day, including across midnight and a daylight-saving change.
func TestNextAllowed(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ny, _ := time.LoadLocation("America/New_York")
	night := rules.Policy{Quiet: []rules.QuietHours{{From: 21*60 + 30, To: 9 * 60}}}
	lunch := rules.Policy{Quiet: []rules.QuietHours{{From: 12 * 60, To: 13 * 60}}}
	both := night.Merge(rules.Policy{Quiet: []rules.QuietHours{{From: 9 * 60, To: 10 * 60}}})
	for _, c := range []struct {
		name     string
		pol      rules.Policy
		at, want time.Time
	}{
		{"before the window", night, time.Date(2026, 3, 1, 21, 29, 0, 0, sh), time.Date(2026, 3, 1, 21, 29, 0, 0, sh)},
		{"at its start", night, time.Date(2026, 3, 1, 21, 30, 0, 0, sh), time.Date(2026, 3, 2, 9, 0, 0, 0, sh)},
		{"just before midnight", night, time.Date(2026, 3, 1, 23, 59, 0, 0, sh), time.Date(2026, 3, 2, 9, 0, 0, 0, sh)},
		{"after midnight", night, time.Date(2026, 3, 2, 3, 0, 0, 0, sh), time.Date(2026, 3, 2, 9, 0, 0, 0, sh)},
		{"a minute before the end", night, time.Date(2026, 3, 2, 8, 59, 0, 0, sh), time.Date(2026, 3, 2, 9, 0, 0, 0, sh)},
		{"at the end", night, time.Date(2026, 3, 2, 9, 0, 0, 0, sh), time.Date(2026, 3, 2, 9, 0, 0, 0, sh)},
		{"month end", night, time.Date(2026, 2, 28, 22, 0, 0, 0, sh), time.Date(2026, 3, 1, 9, 0, 0, 0, sh)},
		{"a window within the day", lunch, time.Date(2026, 3, 1, 12, 30, 0, 0, sh), time.Date(2026, 3, 1, 13, 0, 0, 0, sh)},
		{"touching windows are passed together", both, time.Date(2026, 3, 1, 23, 0, 0, 0, sh), time.Date(2026, 3, 2, 10, 0, 0, 0, sh)},
		// New York springs forward at 02:00 on 8 March 2026: the night is
		// an hour shorter, and 09:00 is still 09:00 local.
		{"across a DST change", night, time.Date(2026, 3, 7, 22, 0, 0, 0, ny), time.Date(2026, 3, 8, 9, 0, 0, 0, ny)},
		{"no quiet hours", rules.Policy{}, time.Date(2026, 3, 1, 3, 0, 0, 0, sh), time.Date(2026, 3, 1, 3, 0, 0, 0, sh)},
	} {
		loc := c.at.Location()
		if got := c.pol.NextAllowed(c.at, loc); !got.Equal(c.want) {
			t.Errorf("%s: NextAllowed(%s) = %s, want %s", c.name, c.at, got.In(loc), c.want)
		}
	}
	// The same instant is quiet in Shanghai and daytime in New York.
	at := time.Date(2026, 3, 1, 23, 0, 0, 0, sh)
	if got := night.NextAllowed(at, ny); !got.Equal(at) {
		t.Errorf("23:00 Shanghai is 10:00 in New York: got %s", got.In(ny))
	}
}

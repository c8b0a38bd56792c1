package actions

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a span written the way marketers write it: "7d", "12h", "30m",
// or combinations Go understands ("1h30m"). Days are 24 hours.
type Duration time.Duration

// ParseDuration parses "7d", "2w", or any Go duration string.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for _, unit := range []struct {
		suffix string
		size   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if num, ok := strings.CutSuffix(s, unit.suffix); ok {
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("invalid duration %q: want a whole number of %s, like 7d", s, unit.suffix)
			}
			return time.Duration(n) * unit.size, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use units d, h, m, s (like 7d or 12h)", s)
	}
	return d, nil
}

// UnmarshalYAML decodes a duration scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like 7d")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats whole days as "Nd", whole hours as "Nh", whole minutes
// as "Nm", the way playbooks write them, and anything else as Go does.
func (d Duration) String() string {
	td := time.Duration(d)
	for _, u := range []struct {
		size time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if td > 0 && td%u.size == 0 {
			return fmt.Sprintf("%d%s", td/u.size, u.unit)
		}
	}
	return td.String()
}

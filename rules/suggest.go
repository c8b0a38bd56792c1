package rules

import (
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Suggest returns the names among known that name was most likely meant
// to be: those within a small edit distance of it (a typo, a missing or
// doubled letter), or that contain it or are contained in it. It is what
// "did you mean" says after an unknown key, attribute or group.
func Suggest(name string, known []string) []string {
	if name == "" {
		return nil
	}
	limit := max(1, len(name)/3)
	var out []string
	for _, k := range known {
		if k == name {
			continue
		}
		if levenshtein.ComputeDistance(name, k) <= limit || (len(name) >= 3 && (strings.Contains(k, name) || strings.Contains(name, k))) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

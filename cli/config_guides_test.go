package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Guides are listed with ids and capacities; a mistake names the entry
// and its line.
func TestGuideConfig(t *testing.T) {
	load := func(body string) (*config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "koi.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return loadConfig(path)
	}
	c, err := load("guides:\n  - { id: g01, name: 小王, capacity: 30, wecom_user: wangxiao }\n  - { id: g02 }\n")
	if err != nil {
		t.Fatal(err)
	}
	gs := c.guides()
	if len(gs) != 2 || gs[0].Sender() != "wangxiao" || gs[1].Sender() != "g02" || gs[0].Capacity != 30 {
		t.Errorf("guides %+v", gs)
	}
	if c, _ := load("tiers: [a]\n"); c.guides() == nil {
		t.Error("no guides must be an empty list, so assign_guide is refused at load")
	}
	for body, want := range map[string]string{
		"guides:\n  - { id: g01 }\n  - { id: g01 }\n":          "koi.yaml:3:11: guides.1.id: guide \"g01\" is listed twice",
		"guides:\n  - { name: 小王 }\n":                          "guides.0.id: each guide needs an id",
		"guides:\n  - { id: g01, capacity: -1 }\n":             "koi.yaml:2:26: guides.0.capacity: want the most open tasks",
		"guides:\n  - { id: g01, capacity: 3, colour: red }\n": `unknown key "colour"`,
	} {
		_, err := load(body)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

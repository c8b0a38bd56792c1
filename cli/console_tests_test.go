package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
)

// The editor's test runner runs a playbook's test file against the text
// being edited, not the file on disk, and leaves nothing behind.
func TestConsoleTestRunner(t *testing.T) {
	cfg, err := loadConfig("") // no koi.yaml here: the defaults
	if err != nil {
		t.Fatal(err)
	}
	pt := &playTester{cfg: cfg, registry: (&globals{register: []func(*actions.Registry){builtin.Register}}).registry}
	run := consoleTestRunner(pt)
	dir := filepath.Join("..", "examples", "playbooks")
	src, err := os.ReadFile(filepath.Join(dir, "vip-tier.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, _ := os.ReadDir(os.TempDir())
	res, err := run(ctx, filepath.Join(dir, "vip-tier_test.yaml"), "vip-tier.yaml", src)
	if err != nil || len(res) < 2 {
		t.Fatalf("the example's own text: %v, %+v", err, res)
	}
	for _, r := range res {
		if !r.Passed {
			t.Errorf("%s failed on the unchanged text: %v", r.Case, r.Failures)
		}
	}
	// The upgrade threshold moved: the upgrade case must fail, though the
	// file on disk is unchanged.
	edited := strings.Replace(string(src), "spend_90d >= 5000", "spend_90d >= 50000", 1)
	res, err = run(ctx, filepath.Join(dir, "vip-tier_test.yaml"), "vip-tier.yaml", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range res {
		if !r.Passed {
			failed++
		}
	}
	if failed == 0 {
		t.Error("a text that no longer upgrades at 5000 passed the upgrade test")
	}
	// Text that does not load: the error names the file, not the copy.
	_, err = run(ctx, filepath.Join(dir, "vip-tier_test.yaml"), "vip-tier.yaml", []byte("name: vip-tier\nrules: [\n"))
	if err == nil || !strings.Contains(err.Error(), "vip-tier.yaml:") || strings.Contains(err.Error(), "koi-console-test-") {
		t.Errorf("a broken text: %v", err)
	}
	after, _ := os.ReadDir(os.TempDir())
	for _, e := range after {
		if strings.HasPrefix(e.Name(), "koi-console-test-") && !slices.ContainsFunc(before, func(b os.DirEntry) bool { return b.Name() == e.Name() }) {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

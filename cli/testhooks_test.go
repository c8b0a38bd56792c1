package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	hookedOnce sync.Once
	hookedBin  string
	hookedErr  error
)

// hookedKoi returns a koi binary built with -tags koitesthooks, which has
// the fault-injection hooks of testhooks_on.go (KOI_TEST_BATCH_PAUSE) that
// the shipped binary lacks. It is built once, by the first test that asks.
func hookedKoi(t *testing.T) string {
	t.Helper()
	hookedOnce.Do(func() {
		bin := filepath.Join(binDir, "koi-hooked")
		build := exec.Command("go", "build", "-tags", "koitesthooks", "-o", bin, "../cmd/koi")
		if out, err := build.CombinedOutput(); err != nil {
			hookedErr = fmt.Errorf("go build -tags koitesthooks: %v\n%s", err, out)
			return
		}
		hookedBin = bin
	})
	if hookedErr != nil {
		t.Fatal(hookedErr)
	}
	return hookedBin
}

// testHookNames are the environment variables of testhooks_on.go: none may
// be in the binary koi ships.
var testHookNames = []string{"KOI_TEST_BATCH_PAUSE"}

// The binary as shipped (built without tags, as koiBin is) does not
// contain the test hooks; the hooked build does, which shows that the
// search would find them.
func TestShippedBinaryHasNoTestHooks(t *testing.T) {
	shipped, err := os.ReadFile(koiBin)
	if err != nil {
		t.Fatal(err)
	}
	hooked, err := os.ReadFile(hookedKoi(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range testHookNames {
		if bytes.Contains(shipped, []byte(name)) {
			t.Errorf("the shipped binary contains the test hook %s", name)
		}
		if !bytes.Contains(hooked, []byte(name)) {
			t.Errorf("the hooked binary lacks %s: this test cannot see a hook", name)
		}
	}
}

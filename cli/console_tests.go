package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/koihq/koi/engine/console"
)

// consoleTestRunner runs a playbook's test file for the console's editor
// against text not saved yet: the test file and the text, as the playbook
// file it names, go into a directory of their own, and koi test's runner
// runs the cases there (each in a fresh database, as `koi test` does).
func consoleTestRunner(pt *playTester) func(ctx context.Context, testFile, playbookFile string, source []byte) ([]console.TestCaseResult, error) {
	return func(ctx context.Context, testFile, playbookFile string, source []byte) ([]console.TestCaseResult, error) {
		tests, err := os.ReadFile(testFile)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "koi-console-test-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		tmpTest := filepath.Join(dir, filepath.Base(testFile))
		if err := os.WriteFile(tmpTest, tests, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(playbookFile)), source, 0o600); err != nil {
			return nil, err
		}
		results, err := pt.runFile(ctx, tmpTest)
		out := make([]console.TestCaseResult, len(results))
		for i, r := range results {
			out[i] = console.TestCaseResult{Case: r.Case, Line: r.Line, Passed: r.Passed, Failures: r.Failures}
		}
		if err != nil {
			// Positions name the temporary copy; the file names are the same.
			return out, fmt.Errorf("%s", relativeTo(err.Error(), dir))
		}
		return out, nil
	}
}

// relativeTo strips dir from the paths in msg.
func relativeTo(msg, dir string) string {
	return strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
}

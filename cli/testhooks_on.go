//go:build koitesthooks

package cli

import (
	"os"
	"time"
)

// batchPause is a fault-injection hook for the crash tests, compiled only
// into a binary built with -tags koitesthooks (the tests build one): with
// KOI_TEST_BATCH_PAUSE set, a run sleeps after each committed batch of
// fires, so a test can kill the process between two batches. The shipped
// binary has testhooks_off.go instead, so no environment variable can slow
// a production run down.
func batchPause() func(string, int) {
	d, err := time.ParseDuration(os.Getenv("KOI_TEST_BATCH_PAUSE"))
	if err != nil || d <= 0 {
		return nil
	}
	return func(string, int) { time.Sleep(d) }
}

//go:build !koitesthooks

package cli

// batchPause is the shipped binary's side of the crash tests' hook
// (testhooks_on.go): no pause, whatever the environment says.
func batchPause() func(string, int) { return nil }

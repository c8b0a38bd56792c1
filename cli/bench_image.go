package cli

import (
	"context"
	"fmt"
	"os"
)

// The bench's start-up figures are a server's two kinds of start: a
// restart after a clean stop, which reads the pond image that stop left
// (startup_seconds, history_startup_seconds), and a first start or one
// after a crash, which reads the tables (cold_startup_seconds,
// history_cold_startup_seconds). A priming process on a copy of each bench
// pond measures the cold start and leaves the image; each repetition then
// starts on a fresh copy of the database and of its image, and reports
// whether it read the image (a repetition that did not is an error: its
// start-up would be the cold one under the other name).

// primeBenchImage starts a koi process on a copy of db, as a first start,
// and has it save the pond image beside the copy; it returns the image's
// path, the cold start-up and the process's peak memory.
func primeBenchImage(ctx context.Context, db, playbooks string) (image string, coldSeconds float64, rss int64, err error) {
	prime := db + ".prime"
	if err := copyDB(db, prime); err != nil {
		return "", 0, 0, err
	}
	_ = os.Remove(prime + ".pond")
	res, rss, err := benchRepProcessArgs(ctx, prime, playbooks, "--prime")
	if err != nil {
		return "", 0, 0, fmt.Errorf("prime the pond image: %w", err)
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-open.lock", "-compact.lock", "-dispatch.lock"} {
		_ = os.Remove(prime + suffix)
	}
	return prime + ".pond", res.StartupSeconds, rss, nil
}

// copyBenchImage puts the primed image beside a fresh copy of the
// database at work.
func copyBenchImage(image, work string) error {
	_ = os.Remove(work + ".pond")
	return copyFile(image, work+".pond")
}

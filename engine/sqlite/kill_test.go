package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// The test binary doubles as an ingesting process that a test kills: with
// ingestChildEnv set, TestMain runs ingestChild instead of the tests.
const ingestChildEnv = "KOI_TEST_INGEST_CHILD"

func TestMain(m *testing.M) {
	for env, child := range map[string]func(string) error{ingestChildEnv: ingestChild, journeyChildEnv: journeyChild, mergeChildEnv: mergeChild} {
		if spec := os.Getenv(env); spec != "" {
			if err := child(spec); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// startChild starts the test binary as the child that env's value
// selects (see TestMain), with its standard output to read and its
// standard error collected.
func startChild(t *testing.T, env, spec string) (*exec.Cmd, io.Reader, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+spec)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

const killBatch = 20

func killEventID(life, batch, i int) string { return fmt.Sprintf("k%d-%d-%d", life, batch, i) }

// ingestChild ingests batches until killed, with runs so small that the
// compactor flushes and merges all the time, and prints "ack N" once batch
// N is acknowledged. Every batch also repeats an id of an earlier one.
func ingestChild(spec string) error {
	path, lifeStr, _ := strings.Cut(spec, ",")
	life, err := strconv.Atoi(lifeStr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	sqlite.SetEventIDThresholds(db, 30, 2, 4)
	out := bufio.NewWriter(os.Stdout)
	for b := 0; ; b++ {
		evs := make([]domain.Event, 0, killBatch+1)
		for i := 0; i < killBatch; i++ {
			evs = append(evs, domain.Event{ID: killEventID(life, b, i), CustomerID: "c000", Type: "visit", At: t0})
		}
		if b > 0 {
			evs = append(evs, domain.Event{ID: killEventID(life, b/2, 3), CustomerID: "c000", Type: "visit", At: t0})
		}
		res, err := db.AddEvents(ctx, evs, nil)
		if err != nil {
			return err
		}
		if b > 0 && res.Inserted[killBatch] {
			return fmt.Errorf("batch %d: the repeat of %s was inserted", b, evs[killBatch].ID)
		}
		fmt.Fprintf(out, "ack %d\n", b)
		out.Flush()
	}
}

// SIGKILL at random moments of ingest, flushes and merges loses no
// acknowledged event, stores no id twice, and leaves an index that still
// knows every id once the next process has compacted.
func TestEventIDsSurviveKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "koi.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertCustomers(ctx, []domain.Customer{{ID: "c000", Tier: "normal"}}, t0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	acked := map[int]int{} // life -> batches acknowledged
	leftovers := 0
	for life := 0; life < 6; life++ {
		cmd, stdout, stderr := startChild(t, ingestChildEnv, path+","+strconv.Itoa(life))
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it get going, then kill it at a random moment: after some
		// batches, counted rather than timed, so a slow machine (or -race)
		// does not make the test vacuous.
		target := 20 + rng.IntN(100)
		timeout := time.After(time.Minute)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("life %d: the child stopped: %s", life, stderr.String())
				}
				var n int
				if _, err := fmt.Sscanf(l, "ack %d", &n); err == nil {
					acked[life] = n + 1
				}
				if acked[life] >= target {
					time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
					break read
				}
			case <-timeout:
				t.Fatalf("life %d: %d batches in a minute", life, acked[life])
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range lines { // acknowledgements written before the kill
			var n int
			if _, err := fmt.Sscanf(l, "ack %d", &n); err == nil {
				acked[life] = n + 1
			}
		}
		cmd.Wait()

		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := sqlite.CheckEventIDs(ctx, db, false); err != nil {
			t.Fatalf("after kill %d: %v", life, err)
		}
		if err := sqlite.CheckEventIDs(ctx, db, true); err != nil {
			leftovers++ // an unfinished run, until the lock holder drops it
		}
		if err := db.CompactEventIDs(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sqlite.CheckEventIDs(ctx, db, true); err != nil {
			t.Fatalf("after kill %d and a compaction: %v", life, err)
		}
		// Every acknowledged event is stored; a sample of them, sent again
		// (CheckEventIDs vouches for the rest), are each a duplicate.
		stored := storedEventIDs(t, db)
		var again []domain.Event
		for l := 0; l <= life; l++ {
			for b := 0; b < acked[l]; b++ {
				for i := 0; i < killBatch; i++ {
					id := killEventID(l, b, i)
					if !stored[id] {
						t.Fatalf("after kill %d: acknowledged event %s is missing", life, id)
					}
					if (b+i)%17 == 0 || (l == life && b >= acked[l]-2) {
						again = append(again, domain.Event{ID: id, CustomerID: "c000", Type: "visit", At: t0})
					}
				}
			}
		}
		res, err := db.AddEvents(ctx, again, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, ok := range res.Inserted {
			if ok {
				t.Fatalf("after kill %d: acknowledged event %s was taken as new", life, again[i].ID)
			}
		}
		db.Close()
	}
	t.Logf("batches acknowledged per life: %v; %d kills left an unfinished run", acked, leftovers)
}

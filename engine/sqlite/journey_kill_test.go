package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

// journeyChildEnv makes the test binary a process that passes over a
// journey until killed (TestMain).
const journeyChildEnv = "KOI_TEST_JOURNEY_CHILD"

const killJourney = `name: sop
schedule: "0 * * * *"
holdout: 0%
journey:
  enter: { when: member }
  steps:
    - id: hello
      after: 0m
      actions: [{ tag: { add: [hello] } }]
    - id: gift
      after: 2h
      actions: [{ coupon: { amount: 5, min_spend: 0, expires_in: 7d } }]
    - id: bye
      after: 4h
      actions: [{ tag: { add: [bye] } }]
`

// journeyEngine opens an engine on the database at path with small
// batches, and the kill test's journey.
func killJourneyEngine(path string, afterBatch func(string, int)) (*sqlite.DB, *engine.Engine, *rules.Playbook, error) {
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, nil, nil, err
	}
	e := engine.New(db, builtin.Registry(), engine.Config{Tiers: []string{"normal"}, BatchSize: 7, AfterBatch: afterBatch})
	pb, err := rules.Load("sop.yaml", []byte(killJourney), e.LoadOptions())
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return db, e, pb, nil
}

// journeyChild passes over the journey every ten minutes of journey
// time, from the minute after t0 its spec gives (path,minutes) to 5 h,
// printing "pass N" after each, until it is killed.
func journeyChild(spec string) error {
	path, minutes, _ := strings.Cut(spec, ",")
	start, err := strconv.Atoi(minutes)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	db, e, pb, err := killJourneyEngine(path, func(string, int) {
		fmt.Fprintln(out, "batch")
		out.Flush()
	})
	if err != nil {
		return err
	}
	defer db.Close()
	for i := 0; ; i++ {
		at := t0.Add(time.Duration(min(start+10*i, 300)) * time.Minute)
		if _, err := e.ProcessJourney(context.Background(), pb, engine.JourneyRequest{At: at, Enter: true, ApprovedBy: "test"}); err != nil {
			return err
		}
		fmt.Fprintf(out, "pass %d\n", i)
		out.Flush()
	}
}

// SIGKILL in the middle of journey passes, eight times, then a pass that
// finishes: every customer took every step exactly once, with its effect
// once (DESIGN §3b, issue 25: no step twice, none lost).
func TestJourneySurvivesKill(t *testing.T) {
	const customers = 400
	path := filepath.Join(t.TempDir(), "koi.db")
	f := &fixture{t: t, reg: builtin.Registry()}
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	f.customers(customers, 0)
	db.Close()
	rng := rand.New(rand.NewPCG(21, 22))
	midPass := 0 // kills that left customers at different places
	for life := range 8 {
		// Each life starts 40 minutes of journey time later, so each has
		// steps to take: entry and hello, gift at 2 h, bye at 4 h.
		cmd, stdout, stderr := startChild(t, journeyChildEnv, path+","+strconv.Itoa(40*life))
		sc := bufio.NewScanner(stdout)
		// Kill after some batches of steps, counted (a slow machine or
		// -race must not make the test vacuous), at a random moment after.
		// A life with no steps left to take kills after a few passes.
		target := 1 + rng.IntN(60)
		batches, passes := 0, 0
		for batches < target && passes < 4 && sc.Scan() {
			switch {
			case sc.Text() == "batch":
				batches++
			case strings.HasPrefix(sc.Text(), "pass "):
				passes++
			}
		}
		if batches < target && passes < 4 {
			t.Fatalf("life %d: the child stopped after %d batches: %s", life, batches, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if killedMidPass(t, path, customers) {
			midPass++
		}
	}
	if midPass == 0 {
		t.Fatal("no kill landed in the middle of a pass: the test proves nothing")
	}
	db, e, pb, err := killJourneyEngine(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f.db = db
	if _, err := e.ProcessJourney(context.Background(), pb, engine.JourneyRequest{At: t0.Add(5 * time.Hour), Enter: true, ApprovedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT 1 FROM fires WHERE playbook = 'sop' GROUP BY rule, customer_id HAVING count(*) = 1)`,
		`SELECT count(*) FROM journey_state WHERE status = 'completed' AND entry = 1`,
		`SELECT count(*) FROM coupons`,
		`SELECT count(*) FROM customers_now WHERE tags LIKE '%"hello"%' AND tags LIKE '%"bye"%'`,
	} {
		want := customers
		if strings.Contains(q, "GROUP BY rule") {
			want = 3 * customers
		}
		if got := f.count(q); got != want {
			t.Errorf("%s: %d, want %d", q, got, want)
		}
	}
	if n := f.count(`SELECT count(*) FROM fires WHERE playbook = 'sop'`); n != 3*customers {
		t.Errorf("%d fires, want %d: one per customer and step", n, 3*customers)
	}
}

// killedMidPass reports whether the journey's customers are at different
// places: a pass was cut off between its transactions.
func killedMidPass(t *testing.T, path string, customers int) bool {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var places, rows int
	if err := db.SQL().QueryRow(`SELECT count(DISTINCT status || next_step), count(*) FROM journey_state`).Scan(&places, &rows); err != nil {
		t.Fatal(err)
	}
	return places > 1 || (rows > 0 && rows < customers)
}

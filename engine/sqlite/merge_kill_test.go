package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// mergeChildEnv makes the test binary a process that merges customers
// while it ingests their events, until killed (TestMain).
const mergeChildEnv = "KOI_TEST_MERGE_CHILD"

const (
	mergePairs    = 40 // pairs of customers, each one person under two ids
	mergesPerLife = 5
)

const mergeOnce = `name: hello
limits: { max_fires: 100% }
rules:
  - id: hello
    when: "true"
    once: true
    actions: [{ tag: { add: [hello] } }]
`

func pairIDs(j int) (a, b, link string) {
	return fmt.Sprintf("a-%02d", j), fmt.Sprintf("b-%02d", j), fmt.Sprintf("link-%02d", j)
}

func pairIdentities(j int) (union, phone domain.Identity) {
	return domain.Identity{Kind: "unionid", Value: fmt.Sprintf("u-%02d", j)}, domain.Identity{Kind: "phone", Value: fmt.Sprintf("+86138000000%02d", j)}
}

// mergeEngine opens an engine on the database at path with the once
// playbook in dir.
func mergeEngine(path, dir string) (*sqlite.DB, *engine.Engine, error) {
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, nil, err
	}
	e := engine.New(db, builtin.Registry(), engine.Config{Tiers: []string{"normal", "gold"}, BatchSize: 7})
	if err := e.Load(dir); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, e, nil
}

// mergeChild links pairs (from its life's first), printing "merged J"
// after each, while another goroutine ingests events keyed by the pairs'
// younger ids and prints "ack ID J" after each is acknowledged.
func mergeChild(spec string) error {
	parts := strings.Split(spec, ",")
	life, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	db, e, err := mergeEngine(parts[0], parts[1])
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
	errc := make(chan error, 1)
	go func() {
		for k := 0; ; k++ {
			j := (life*mergesPerLife + k) % mergePairs
			_, b, _ := pairIDs(j)
			id := fmt.Sprintf("e%d-%d", life, k)
			res, err := e.AddEvents(ctx, []domain.Event{{ID: id, CustomerID: b, Type: "visit", At: t0}})
			if err == nil && len(res.ItemErrs) > 0 {
				err = fmt.Errorf("event %s of %s refused: %v", id, b, res.ItemErrs[0])
			}
			if err != nil {
				errc <- err
				return
			}
			say("ack %s %d", id, j)
		}
	}()
	for j := life * mergesPerLife; j < mergePairs; j++ {
		select {
		case err := <-errc:
			return err
		default:
		}
		_, _, link := pairIDs(j)
		u, p := pairIdentities(j)
		if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: link, Identities: []domain.Identity{u, p}}}, t0.Add(day), "test"); err != nil {
			return err
		}
		say("merged %d", j)
	}
	return <-errc
}

// SIGKILL while customers merge and their events arrive, eight times:
// every merge happened whole or not at all, no acknowledged event is lost
// or refused, and nothing points at a customer that is gone. Then the
// rest merge in one process and the once rule holds across every merge.
func TestMergeSurvivesKillAndConcurrentIngest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "koi.db")
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbDir, "hello.yaml"), []byte(mergeOnce), 0o644); err != nil {
		t.Fatal(err)
	}
	db, e, err := mergeEngine(path, pbDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var cs []domain.Customer
	var evs []domain.Event
	for j := range mergePairs {
		a, b, _ := pairIDs(j)
		u, p := pairIdentities(j)
		cs = append(cs, domain.Customer{ID: a, JoinedAt: t0.Add(-10 * day), Identities: []domain.Identity{u}},
			domain.Customer{ID: b, JoinedAt: t0.Add(-5 * day), Tier: "gold", Identities: []domain.Identity{p}})
		evs = append(evs, domain.Event{ID: "o-" + a, CustomerID: a, Type: "order", At: t0.Add(-3 * day), AmountFen: 100},
			domain.Event{ID: "o-" + b, CustomerID: b, Type: "order", At: t0.Add(-2 * day), AmountFen: 200})
	}
	if _, err := e.StoreCustomers(ctx, cs, t0, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if r, err := e.Run(ctx, engine.RunRequest{At: t0}); err != nil || r[0].Fired != 2*mergePairs {
		t.Fatalf("hello: %v %v", r, err)
	}
	db.Close()

	acked := map[string]int{} // event id → pair
	rng := rand.New(rand.NewPCG(26, 11))
	for life := range 8 {
		cmd, stdout, stderr := startChild(t, mergeChildEnv, path+","+pbDir+","+strconv.Itoa(life))
		sc := bufio.NewScanner(stdout)
		target := 1 + rng.IntN(mergesPerLife)
		for merged := 0; merged < target && sc.Scan(); {
			f := strings.Fields(sc.Text())
			switch f[0] {
			case "merged":
				merged++
			case "ack":
				j, _ := strconv.Atoi(f[2])
				acked[f[1]] = j
			}
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// What it acknowledged before it died counts too.
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); f[0] == "ack" {
				j, _ := strconv.Atoi(f[2])
				acked[f[1]] = j
			}
		}
		cmd.Wait()
		if strings.Contains(stderr.String(), "refused") {
			t.Fatalf("life %d: %s", life, stderr.String())
		}
		checkMerges(t, path, acked, false)
	}
	// A last process merges what is left and runs the once rule again.
	db, e, err = mergeEngine(path, pbDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for j := range mergePairs {
		_, _, link := pairIDs(j)
		u, p := pairIdentities(j)
		if _, err := e.StoreCustomers(ctx, []domain.Customer{{ID: link, Identities: []domain.Identity{u, p}}}, t0.Add(2*day), "test"); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := e.Run(ctx, engine.RunRequest{At: t0.Add(3 * day)}); err != nil || r[0].Fired != 0 {
		t.Fatalf("hello after the merges: %+v %v; want no fire (once held across the merge)", r, err)
	}
	checkMerges(t, path, acked, true)
}

// checkMerges checks the database at path after a kill: each pair merged
// whole or not at all (all of them when all is set), every acknowledged
// event stored on its pair's customer, nothing pointing at a customer
// that is gone.
func checkMerges(t *testing.T, path string, acked map[string]int, all bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, q := range []string{
		`SELECT count(*) FROM events WHERE customer_id NOT IN (SELECT id FROM customers)`,
		`SELECT count(*) FROM fires WHERE customer_id NOT IN (SELECT id FROM customers)`,
		`SELECT count(*) FROM identities WHERE customer_id NOT IN (SELECT id FROM customers)`,
		`SELECT count(*) FROM customer_aliases WHERE customer_id NOT IN (SELECT id FROM customers)`,
		`SELECT count(*) FROM customer_aliases WHERE alias IN (SELECT id FROM customers)`,
	} {
		if n := count(q); n != 0 {
			t.Errorf("%s = %d", q, n)
		}
	}
	merged := map[int]bool{}
	for j := range mergePairs {
		a, b, link := pairIDs(j)
		if count(`SELECT count(*) FROM customer_aliases WHERE alias = ?`, b) == 0 {
			if all {
				t.Errorf("pair %d not merged", j)
			}
			if n := count(`SELECT count(*) FROM customers WHERE id IN (?, ?, ?)`, a, b, link); n != 2 {
				t.Errorf("pair %d unmerged with %d customers, want a and b", j, n)
			}
			if n := count(`SELECT count(*) FROM merges WHERE survivor IN (?, ?, ?) OR merged IN (?, ?, ?)`, a, b, link, a, b, link); n != 0 {
				t.Errorf("pair %d unmerged with %d merges recorded", j, n)
			}
			continue
		}
		merged[j] = true
		if n := count(`SELECT count(*) FROM customers WHERE id IN (?, ?, ?)`, a, b, link); n != 1 ||
			count(`SELECT count(*) FROM customers WHERE id = ? AND tier = 'gold'`, a) != 1 {
			t.Errorf("pair %d merged, but %d of its customers are left (want a, gold)", j, n)
		}
		if n := count(`SELECT count(*) FROM customer_aliases WHERE alias IN (?, ?) AND customer_id = ?`, b, link, a); n != 2 {
			t.Errorf("pair %d: %d aliases of %s, want 2", j, n, a)
		}
		if n := count(`SELECT count(*) FROM merges WHERE survivor IN (?, ?) AND merged IN (?, ?)`, a, link, b, link); n != 2 {
			t.Errorf("pair %d: %d merges recorded, want 2", j, n)
		}
		if n := count(`SELECT count(*) FROM fires WHERE customer_id = ? AND rule = 'hello' AND seq IN (1, 2)`, a); n != 2 {
			t.Errorf("pair %d: %s has %d hello fires numbered 1 and 2, want both", j, a, n)
		}
		if n := count(`SELECT count(*) FROM events WHERE customer_id = ? AND type = 'order'`, a); n != 2 {
			t.Errorf("pair %d: %s has %d orders, want both", j, a, n)
		}
	}
	for id, j := range acked {
		a, b, _ := pairIDs(j)
		want := b
		if merged[j] {
			want = a
		}
		var got string
		if err := db.QueryRow(`SELECT customer_id FROM events WHERE id = ?`, id).Scan(&got); err != nil || got != want {
			t.Errorf("acknowledged event %s of pair %d: on %q (%v), want %s", id, j, got, err, want)
		}
	}
}

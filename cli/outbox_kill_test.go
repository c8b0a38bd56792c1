package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/webhook"
)

// hookReceiver is a brand's webhook receiver on loopback: it verifies
// signatures, answers slowly and sometimes 503, and counts what it
// accepted by idempotency key.
type hookReceiver struct {
	mu       sync.Mutex
	keys     map[string]int
	failRate float64
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify([]byte("hook-secret"), r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var m actions.Message
	if err := json.Unmarshal(body, &m); err != nil || m.Key != r.Header.Get("Idempotency-Key") {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	time.Sleep(15 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if rand.Float64() < h.failRate {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.keys[m.Key]++
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) snapshot() (distinct, total int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.keys {
		distinct++
		total += n
	}
	return distinct, total
}

// Crash safety of the outbox with real processes: koi run fires a
// playbook (a coupon and a webhook message per customer per day) and
// delivers the messages to a slow, flaky receiver; it is killed with
// SIGKILL at random moments, 25 times, and started again each time. Then
// it runs to the end. Every fire's message arrives at least once and,
// deduplicated by idempotency key, exactly once; no customer fires twice
// a day, and every fire has exactly one coupon and one job; the outbox
// holds nothing pending.
func TestOutboxSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 25+ processes")
	}
	const customers = 300
	rcv := &hookReceiver{keys: map[string]int{}, failRate: 0.15}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	db, pb, cfg := hookSetup(t, srv.URL, customers, 11, `name: thanks
limits: { max_fires: 100% }
rules:
  - id: thanks
    when: "true"
    cooldown: 1d
    actions:
      - coupon: { amount: 10, expires_in: 7d }
      - message: { channel: hook, template: "{{.name}}: {{.coupon.code}}" }
`, `{ concurrency: 8, backoff: 50ms, max_backoff: 300ms, max_attempts: 1000 }`)

	// Every second run is a new day, so each run has fires to write and
	// messages to send; the run in between re-runs the same day, as an
	// operator does after a crash, and must fire only what is missing.
	day0 := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	args := func(i int) []string {
		at := day0.Add(time.Duration(i/2) * 24 * time.Hour).Format(time.RFC3339)
		return []string{"--db", db, "--config", cfg, "run", "--playbooks", pb, "--batch-size", "40", "--at", at}
	}
	env := append(os.Environ(), "HOOK_SECRET=hook-secret", "KOI_TEST_BATCH_PAUSE=20ms")
	hooked := hookedKoi(t)
	interrupted := 0
	for i := range 25 {
		cmd := exec.Command(hooked, args(i)...)
		cmd.Dir, cmd.Env = "..", env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		delay := time.Duration(50+rand.IntN(900)) * time.Millisecond
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("kill %d: koi run failed on its own: %v", i, err)
			}
		case <-time.After(delay):
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			<-exited
		}
		pending := query(t, db, `SELECT count(*) FROM jobs WHERE state = 'pending'`)
		fires := query(t, db, `SELECT count(*) FROM fires`)
		if pending > 0 || fires < customers*(i/2+1) {
			interrupted++
		}
		distinct, total := rcv.snapshot()
		t.Logf("kill %2d after %v: %d fires, %d jobs pending, received %d (%d distinct)", i, delay, fires, pending, total, distinct)
	}
	if interrupted < 5 {
		t.Errorf("only %d of 25 kills interrupted a run or its deliveries: the test is not testing", interrupted)
	}

	// Let it finish, with a healthy receiver.
	rcv.mu.Lock()
	rcv.failRate = 0
	rcv.mu.Unlock()
	for i := 0; query(t, db, `SELECT count(*) FROM jobs WHERE state = 'pending'`) > 0; i++ {
		if i == 20 {
			t.Fatal("the outbox did not empty in 20 runs")
		}
		r := koi(t, []string{"HOOK_SECRET=hook-secret"}, args(24)...)
		if r.code != 0 {
			t.Fatalf("final run: exit %d\n%s", r.code, r.stderr)
		}
		time.Sleep(300 * time.Millisecond) // let backoffs come due
	}

	fires := query(t, db, `SELECT count(*) FROM fires`)
	if fires < customers*10 { // 13 days; customers who joined later are not yet in the audience
		t.Errorf("%d fires over 13 days of %d customers: runs made too little progress", fires, customers)
	}
	if n := query(t, db, `SELECT count(*) FROM (SELECT 1 FROM fires GROUP BY customer_id, date(at / 1000, 'unixepoch') HAVING count(*) > 1)`); n != 0 {
		t.Errorf("%d customer-days fired twice", n)
	}
	if n := query(t, db, `SELECT count(*) FROM fires f WHERE (SELECT count(*) FROM coupons c WHERE c.fire_id = f.id) != 1`); n != 0 {
		t.Errorf("%d fires without exactly one coupon", n)
	}
	if n := query(t, db, `SELECT count(*) FROM coupons WHERE fire_id NOT IN (SELECT id FROM fires)`); n != 0 {
		t.Errorf("%d coupons without their fire", n)
	}
	if n := query(t, db, `SELECT count(*) FROM fires f WHERE (SELECT count(*) FROM jobs j WHERE j.fire_id = f.id) != 1`); n != 0 {
		t.Errorf("%d fires without exactly one job", n)
	}
	if n := query(t, db, `SELECT count(*) FROM jobs WHERE state NOT IN ('done', 'dead')`); n != 0 {
		t.Errorf("%d jobs neither done nor dead-lettered", n)
	}
	if n := query(t, db, `SELECT count(*) FROM jobs WHERE fire_id NOT IN (SELECT id FROM fires)`); n != 0 {
		t.Errorf("%d jobs without their fire", n)
	}
	done := query(t, db, `SELECT count(*) FROM jobs WHERE state = 'done'`)
	distinct, total := rcv.snapshot()
	if distinct != fires || done != fires {
		t.Errorf("receiver has %d distinct messages, %d jobs done; want %d each (one per fire)", distinct, done, fires)
	}
	// Each done job's key is one the receiver accepted.
	keys := queryStrings(t, db, `SELECT key FROM jobs WHERE state = 'done'`)
	rcv.mu.Lock()
	for _, k := range keys {
		if rcv.keys[k] == 0 {
			t.Errorf("job %s is done but never arrived", k)
		}
	}
	rcv.mu.Unlock()
	t.Logf("%d messages, %d deliveries: %d repeats, dropped by key at the receiver", distinct, total, total-distinct)
}

// hookSetup makes a demo pond of customers (seed), a playbook directory
// holding playbook, and a koi.yaml with a webhook channel named hook
// posting to url (its secret in HOOK_SECRET) and the outbox section
// outbox; it returns their paths.
func hookSetup(t *testing.T, url string, customers, seed int, playbook, outbox string) (db, pb, cfg string) {
	t.Helper()
	dir := t.TempDir()
	db, pb, cfg = filepath.Join(dir, "koi.db"), filepath.Join(dir, "pb"), filepath.Join(dir, "koi.yaml")
	if err := os.Mkdir(pb, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pb, "playbook.yaml"), playbook)
	write(t, cfg, fmt.Sprintf("channels:\n  hook: { type: webhook, url: %q, secret_env: HOOK_SECRET }\noutbox: %s\n", url, outbox))
	mustKoi(t, "--db", db, "demo", "--customers", fmt.Sprint(customers), "--seed", fmt.Sprint(seed))
	return db, pb, cfg
}

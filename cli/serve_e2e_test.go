package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/apikey"
)

const e2eDaily = `name: daily
schedule: "0 10 * * *"
timezone: UTC
rules:
  - id: hello
    when: member
    once: true
    actions:
      - tag: { add: [hello-v1] }
`

const e2eThanks = `name: thanks
rules:
  - id: first-order
    on: order
    when: orders == 1
    once: true
    actions:
      - tag: { add: [thanked] }
`

// e2e is a koi server running in this process on a loopback port, with
// a fake clock.
type e2e struct {
	t     *testing.T
	base  string
	clock *clockwork.FakeClock
	dir   string // playbooks
}

func (s *e2e) call(method, path, key, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func (s *e2e) json(method, path, key, body string) map[string]any {
	s.t.Helper()
	st, raw := s.call(method, path, key, body)
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil || st >= 300 {
		s.t.Fatalf("%s %s: %d %s", method, path, st, raw)
	}
	return out
}

// eventually polls cond until it holds, for at most 10 s.
func (s *e2e) eventually(what string, cond func() bool) {
	s.t.Helper()
	// Generous: under -race on a loaded CI machine a trigger's pass can
	// take seconds; a passing test returns as soon as cond holds.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	s.t.Fatalf("timed out waiting for %s", what)
}

// The server end to end: customers and events over HTTP, an
// event-triggered rule firing, a broken playbook edit reloaded by SIGHUP
// that keeps the previous version running on its schedule (driven by an
// injected clock), the error in the API and in /metrics, a fix through the
// API, and a clean stop.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(pbDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("daily.yaml", e2eDaily)
	write("thanks.yaml", e2eThanks)
	// A file whose condition nests half a million brackets deep crashed
	// the server at start and on every restart; it is an error like any.
	write("deep.yaml", deepPlaybook)
	const admin, shop = "e2e-admin", "e2e-shop"
	t.Setenv("KOI_TEST_SHOP_KEY", shop)
	cfgPath := filepath.Join(dir, "koi.yaml")
	cfg := fmt.Sprintf("playbooks: %s\ntimezone: UTC\napi:\n  read_timeout: 1s\n  keys:\n    - { name: ops, role: admin, sha256: %s }\n    - { name: shop, role: ingest, env: KOI_TEST_SHOP_KEY }\n",
		pbDir, apikey.HashKey(admin))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 9, 59, 0, 0, time.UTC))
	addr := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs strings.Builder
	go func() {
		g := &globals{db: filepath.Join(dir, "koi.db"), config: cfgPath, register: []func(*actions.Registry){builtin.Register}}
		done <- serve(ctx, g, serveOptions{listen: "127.0.0.1:0", clock: clock, serving: func(a string) { addr <- a }}, io.Discard, &syncWriter{w: &logs})
	}()
	var s *e2e
	select {
	case a := <-addr:
		s = &e2e{t: t, base: "http://" + a, clock: clock, dir: pbDir}
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		if st, body := s.call("GET", path, "", ""); st != 200 {
			t.Fatalf("%s: %d %s", path, st, body)
		}
	}
	// A client trickling a body is cut off at the read timeout, not held
	// open for as long as it likes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/events HTTP/1.1\r\nHost: koi\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{", shop)
	began := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // until the server closes it
	}()
trickle:
	for {
		select {
		case <-closed:
			break trickle
		case <-time.After(200 * time.Millisecond):
			if time.Since(began) > 20*time.Second {
				t.Fatal("a trickling client held a connection for 20 s")
			}
			_, _ = conn.Write([]byte(" "))
		}
	}
	conn.Close()
	loaded := map[string]bool{}
	for _, p := range s.json("GET", "/api/v1/playbooks", admin, "")["playbooks"].([]any) {
		pm := p.(map[string]any)
		loaded[fmt.Sprint(pm["name"])] = pm["errors"] == nil
		if errs, _ := pm["errors"].([]any); len(errs) > 0 && !strings.Contains(fmt.Sprint(errs[0]), "at most 4096") {
			t.Errorf("%v: errors %v", pm["file"], errs)
		}
	}
	if !loaded["daily"] || !loaded["thanks"] || len(loaded) != 3 {
		t.Fatalf("playbooks with the deep file beside them: %v", loaded)
	}
	for _, id := range []string{"c1", "c2"} {
		s.json("PUT", "/api/v1/customers/"+id, shop, `{"member": true, "joined_at": "2026-04-01"}`)
	}
	// An order: the event-triggered rule thanks c1, without the request
	// waiting for it.
	if st, body := s.call("POST", "/api/v1/events", shop, `{"id": "o1", "customer_id": "c1", "type": "order", "amount": 99, "at": "2026-05-01T09:58:00Z"}`); st != 201 {
		t.Fatalf("order: %d %s", st, body)
	}
	s.eventually("the first-order fire", func() bool {
		return len(s.json("GET", "/api/v1/fires?playbook=thanks&rule=first-order", admin, "")["fires"].([]any)) == 1
	})
	if tags := s.json("GET", "/api/v1/customers/c1", admin, "")["customer"].(map[string]any)["tags"]; fmt.Sprint(tags) != "[thanked]" {
		t.Fatalf("c1's tags = %v", tags)
	}

	// A broken edit, reloaded by SIGHUP: the error shows, the old version stays.
	write("daily.yaml", strings.Replace(e2eDaily, "when: member", "when: membr", 1))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var daily map[string]any
	s.eventually("the broken file's error in the API", func() bool {
		for _, p := range s.json("GET", "/api/v1/playbooks", admin, "")["playbooks"].([]any) {
			if pm := p.(map[string]any); pm["name"] == "daily" && pm["errors"] != nil {
				daily = pm
				return true
			}
		}
		return false
	})
	if e := daily["errors"].([]any)[0].(map[string]any); e["line"] != 6.0 || !strings.Contains(e["message"].(string), "membr") {
		t.Fatalf("error = %v", e)
	}
	if daily["next_run"] != "2026-05-01T10:00:00Z" {
		t.Fatalf("next_run = %v", daily["next_run"])
	}

	// 10:00 comes: the previous version runs on its schedule.
	// Once gocron has set the daily job's timer on the clock (on its own
	// goroutine), move the clock past it. The other waiter is the ticker
	// of journey passes.
	timerCtx, timerCancel := context.WithTimeout(ctx, 10*time.Second)
	if err := clock.BlockUntilContext(timerCtx, 2); err != nil {
		t.Fatalf("the daily job's timer was never set: %v", err)
	}
	timerCancel()
	clock.Advance(90 * time.Second)
	s.eventually("the scheduled run", func() bool {
		runs := s.json("GET", "/api/v1/runs?playbook=daily", admin, "")["runs"].([]any)
		return len(runs) == 1 && runs[0].(map[string]any)["status"] == "done"
	})
	run := s.json("GET", "/api/v1/runs?playbook=daily", admin, "")["runs"].([]any)[0].(map[string]any)
	if run["trigger"] != "schedule" || run["fired"] != 2.0 {
		t.Fatalf("scheduled run = %v", run)
	}
	if tags := s.json("GET", "/api/v1/customers/c2", admin, "")["customer"].(map[string]any)["tags"]; fmt.Sprint(tags) != "[hello-v1]" {
		t.Fatalf("c2's tags = %v", tags)
	}
	_, metrics := s.call("GET", "/metrics", "", "")
	// Where the server keeps its files is no caller's business.
	_, listing := s.call("GET", "/api/v1/playbooks", admin, "")
	for what, text := range map[string]string{"/metrics": metrics, "/api/v1/playbooks": listing} {
		if strings.Contains(text, pbDir) {
			t.Errorf("%s shows the playbooks directory %s", what, pbDir)
		}
	}
	for _, want := range []string{
		`koi_runs_total{playbook="daily",status="done",trigger="schedule"} 1`,
		`koi_runs_total{playbook="thanks",status="done",trigger="event"} 1`,
		`koi_rule_matches_total{outcome="fired",playbook="daily",rule="hello"} 2`,
		`koi_playbook_load_errors{file="daily.yaml"} 1`,
		`koi_playbooks_last_load_successful 0`,
		`koi_events_ingested_total{result="inserted"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Fixed, reloaded through the API.
	write("daily.yaml", strings.Replace(e2eDaily, "hello-v1", "hello-v2", 1))
	if err := os.Remove(filepath.Join(pbDir, "deep.yaml")); err != nil {
		t.Fatal(err)
	}
	if r := s.json("POST", "/api/v1/playbooks/reload", admin, ""); r["ok"] != true || fmt.Sprint(r["changed"]) != "[daily]" {
		t.Fatalf("reload = %v", r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// syncWriter serialises writes to w; the server logs from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// deepPlaybook's condition nests brackets half a million deep.
var deepPlaybook = "name: deep\nrules:\n  - id: r1\n    when: " + strings.Repeat("(", 500000) + "true" + strings.Repeat(")", 500000) +
	"\n    once: true\n    actions: [{ tag: { add: [x] } }]\n"

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/apikey"
)

const e2eJourney = `name: sop
holdout: 0%
journey:
  enter: { on: wecom_add }
  exit_when: orders_since_entry > 0
  steps:
    - id: welcome
      after: 0m
      actions: [{ tag: { add: [sop] } }]
    - id: offer
      after: 48h
      actions: [{ tag: { add: [offer] } }]
`

// koi serve runs journeys: an event of the entry type enters its customer
// and the first step fires at once; an order leaves the journey on
// arrival; when the clock reaches the next step, the minute's pass takes
// it; the customer API shows where each customer is.
func TestServeRunsJourneys(t *testing.T) {
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbDir, "sop.yaml"), []byte(e2eJourney), 0o644); err != nil {
		t.Fatal(err)
	}
	const admin = "e2e-admin"
	cfgPath := filepath.Join(dir, "koi.yaml")
	cfg := fmt.Sprintf("playbooks: %s\ntimezone: UTC\napi:\n  keys:\n    - { name: ops, role: admin, sha256: %s }\n", pbDir, apikey.HashKey(admin))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	s, stop := startServe(t, dir, cfgPath, pbDir, clock)
	defer stop()
	for _, id := range []string{"c1", "c2"} {
		s.json("PUT", "/api/v1/customers/"+id, admin, `{"member": true, "joined_at": "2026-04-01"}`)
		s.json("POST", "/api/v1/events", admin, `{"id": "a-`+id+`", "customer_id": "`+id+`", "type": "wecom_add", "at": "2026-05-01T08:59:00Z"}`)
	}
	customer := func(id string) (tags string, journey map[string]any) {
		v := s.json("GET", "/api/v1/customers/"+id, admin, "")
		js := v["journeys"].([]any)
		if len(js) > 0 {
			journey = js[len(js)-1].(map[string]any)
		}
		return fmt.Sprint(v["customer"].(map[string]any)["tags"]), journey
	}
	s.eventually("both welcomed on their event", func() bool {
		t1, _ := customer("c1")
		t2, _ := customer("c2")
		return t1 == "[sop]" && t2 == "[sop]"
	})
	s.json("POST", "/api/v1/events", admin, `{"id": "o2", "customer_id": "c2", "type": "order", "amount": 50, "at": "2026-05-01T09:00:00Z"}`)
	s.eventually("c2 leaving on the order", func() bool {
		_, j := customer("c2")
		return j["status"] == "exited"
	})
	if _, j := customer("c1"); j["status"] != "entered" || j["next_step"] != "offer" || j["due_at"] != "2026-05-03T08:59:00Z" {
		t.Fatalf("c1's journey = %v", j)
	}
	// Two days on, the minute's pass takes c1's offer.
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := clock.BlockUntilContext(waitCtx, 1); err != nil {
		t.Fatalf("the journey ticker was never set: %v", err)
	}
	waitCancel()
	clock.Advance(48 * time.Hour)
	s.eventually("c1's offer", func() bool {
		tags, j := customer("c1")
		return tags == "[sop offer]" && j["status"] == "completed"
	})
	if tags, _ := customer("c2"); tags != "[sop]" {
		t.Errorf("c2, who left, has tags %s", tags)
	}
	runs := s.json("GET", "/api/v1/runs?playbook=sop", admin, "")["runs"].([]any)
	// The newest: the minute's pass that took the offer (the passes on
	// events before it are one or two, as the events were batched).
	if latest := runs[0].(map[string]any); latest["trigger"] != "schedule" || latest["fired"] != 1.0 {
		t.Errorf("the latest run of the journey = %v", latest)
	}
}

// startServe runs koi serve in this process over dir's koi.db with the
// config at cfgPath and a fake clock, and returns it once it listens, and
// a stop that ends it and checks it returned cleanly.
func startServe(t *testing.T, dir, cfgPath, pbDir string, clock *clockwork.FakeClock) (*e2e, func()) {
	t.Helper()
	addr := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// The server's log is shown when the test fails: a step that never
	// comes says why there.
	log := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("koi serve's log:\n%s", log.String())
		}
	})
	go func() {
		g := &globals{db: filepath.Join(dir, "koi.db"), config: cfgPath, register: []func(*actions.Registry){builtin.Register}}
		done <- serve(ctx, g, serveOptions{listen: "127.0.0.1:0", clock: clock, serving: func(a string) { addr <- a }}, io.Discard, log)
	}()
	var s *e2e
	select {
	case a := <-addr:
		s = &e2e{t: t, base: "http://" + a, clock: clock, dir: pbDir}
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return s, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a server's goroutines to write
// while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Deliveries to one webhook host reuse their connections: koi run sends
// hundreds of messages, 16 at a time, to a receiver on loopback that notes
// when the connections it accepted were closed. With Go's default client (two
// idle connections kept per host) the client closed most connections as soon
// as a delivery finished and dialed anew for the next, costing a third of the
// outbox's throughput and leaving a socket in TIME_WAIT per message.
//
// The count of connections alone is no test: a request that finds no idle
// connection dials one while it waits, and when a busy one comes back first
// the new one is kept for later, so a loaded machine sees more connections
// than deliveries in flight. What must not happen is a connection closed
// while deliveries go on.
func TestDeliveriesReuseConnections(t *testing.T) {
	const customers = 600
	var conns, received atomic.Int64
	var mu sync.Mutex
	var closedAt []int64 // messages received when each connection closed
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // keep the deliveries overlapping
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			mu.Lock()
			closedAt = append(closedAt, received.Load())
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	db, pb, cfg := hookSetup(t, srv.URL, customers, 3, `name: hello
limits: { max_fires: 100% }
rules:
  - id: hello
    when: "true"
    once: true
    actions:
      - message: { channel: hook, template: "{{.name}}" }
`, `{ concurrency: 16 }`)
	r := koi(t, []string{"HOOK_SECRET=s"}, "--db", db, "--config", cfg, "run", "--playbooks", pb, "--at", "2026-07-01T10:00:00Z")
	if r.code != 0 {
		t.Fatalf("koi run: exit %d\n%s", r.code, r.stderr)
	}
	done := query(t, db, `SELECT count(*) FROM jobs WHERE state = 'done'`)
	if n := received.Load(); n != int64(done) || done < customers/2 {
		t.Fatalf("the receiver got %d messages, %d jobs are done (of %d customers)", n, done, customers)
	}
	srv.Close() // waits for the connections' states to be reported
	mu.Lock()
	defer mu.Unlock()
	midRun := 0
	for _, at := range closedAt {
		if at < int64(done) {
			midRun++
		}
	}
	if midRun > 0 {
		t.Errorf("%d of %d connections were closed while deliveries went on (%d deliveries); want none", midRun, conns.Load(), done)
	}
}

package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Deliveries to one webhook host reuse their connections: koi run sends
// hundreds of messages, 16 at a time, to a receiver on loopback that counts the
// connections it accepts. With Go's default client (two idle connections
// kept per host) most deliveries dialed anew, costing a third of the
// outbox's throughput and leaving a socket in TIME_WAIT per message.
func TestDeliveriesReuseConnections(t *testing.T) {
	const customers = 600
	var conns, received atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // keep the deliveries overlapping
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
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
	if n := conns.Load(); n > 16 {
		t.Errorf("%d deliveries took %d connections; want at most the outbox's concurrency, 16", received.Load(), n)
	}
}

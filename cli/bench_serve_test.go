package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koihq/koi/engine/wire"
)

// TestBenchVisitBatch checks the bench's hand-built ingest body: valid
// JSON of events the API takes, new ids across batches, and customers of
// the demo pond.
func TestBenchVisitBatch(t *testing.T) {
	seen := map[string]bool{}
	now := time.Now()
	for batch := 0; batch < 3; batch++ {
		var req struct{ Events []json.RawMessage }
		body := appendVisitBatch(nil, batch*50, 50, 20, now)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("batch %d: %v\n%s", batch, err, body)
		}
		if len(req.Events) != 50 {
			t.Fatalf("batch %d holds %d events, want 50", batch, len(req.Events))
		}
		for _, raw := range req.Events {
			var rec wire.Event
			if err := wire.DecodeStrict(raw, &rec); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			ev, err := rec.ToEvent(time.UTC)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if seen[ev.ID] {
				t.Errorf("id %s sent twice", ev.ID)
			}
			seen[ev.ID] = true
			if ev.Type != "visit" || len(ev.CustomerID) != 8 || ev.CustomerID < "c0000000" || ev.CustomerID > "c0000019" {
				t.Errorf("%s: want a visit of one of customers c0000000 to c0000019", raw)
			}
			if !ev.At.Equal(now.Truncate(time.Millisecond)) {
				t.Errorf("%s: at %v, want %v", raw, ev.At, now)
			}
		}
	}
}

// fakeBatchAPI answers event batches: all inserted, or as answer says.
func fakeBatchAPI(t *testing.T, answer func(n int) (int, string)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/events/batch" || r.Header.Get("Authorization") != "Bearer secret" {
			t.Errorf("%s %s with %q", r.Method, r.URL, r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var req struct{ Events []json.RawMessage }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			// A client the bench gave up on (a batch of another one
			// failed) closes its connection: only bad JSON is an error.
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				t.Error(err)
			}
			return
		}
		received.Add(int64(len(req.Events)))
		st, body := http.StatusOK, fmt.Sprintf(`{"inserted": %d, "duplicates": 0, "rejected": 0, "results": []}`, len(req.Events))
		if answer != nil {
			st, body = answer(len(req.Events))
		}
		w.WriteHeader(st)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &received
}

// TestBenchIngestCountsAcknowledged: the sustained ingest counts the
// events a server acknowledged as inserted, and a refused event or a
// failed batch voids it.
func TestBenchIngestCountsAcknowledged(t *testing.T) {
	opts := benchServeOptions{ingest: 200 * time.Millisecond, batch: 100, clients: 3}
	srv, received := fakeBatchAPI(t, nil)
	cl := newBenchClient(srv.URL, "secret", opts.clients)
	defer cl.close()
	var res benchServeResult
	if err := cl.sustainedIngest(context.Background(), 1000, opts, &res); err != nil {
		t.Fatal(err)
	}
	if res.ingested == 0 || int64(res.ingested) != received.Load() || res.ingested%opts.batch != 0 || res.ingestSeconds < opts.ingest.Seconds() {
		t.Errorf("counted %d events in %v s; the server received %d", res.ingested, res.ingestSeconds, received.Load())
	}

	for name, answer := range map[string]func(int) (int, string){
		"a rejected event": func(n int) (int, string) {
			return http.StatusOK, fmt.Sprintf(`{"inserted": %d, "duplicates": 0, "rejected": 1, "results": []}`, n-1)
		},
		"a duplicate": func(n int) (int, string) {
			return http.StatusOK, fmt.Sprintf(`{"inserted": %d, "duplicates": 1, "rejected": 0, "results": []}`, n-1)
		},
		"a failed batch": func(int) (int, string) { return http.StatusServiceUnavailable, `{"error": {"code": "unavailable"}}` },
		"no answer":      func(int) (int, string) { return http.StatusOK, `` },
	} {
		srv, _ := fakeBatchAPI(t, answer)
		cl := newBenchClient(srv.URL, "secret", opts.clients)
		var res benchServeResult
		if err := cl.sustainedIngest(context.Background(), 1000, opts, &res); err == nil {
			t.Errorf("%s: no error, %d events counted", name, res.ingested)
		}
		cl.close()
	}
}

// fakeFireAPI takes orders and shows a customer's fire, with status, from
// the polls-th poll after their order on.
func fakeFireAPI(t *testing.T, polls int, status string) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/events":
			var ev wire.Event
			if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.Type != "order" || ev.Amount <= 0 {
				t.Errorf("order %+v: %v", ev, err)
			}
			asked[ev.CustomerID] = 0
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id": %q, "status": "inserted"}`, ev.ID)
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/fires":
			c := r.URL.Query().Get("customer")
			if r.URL.Query().Get("playbook") != benchOnName {
				t.Errorf("fires asked for %s", r.URL)
			}
			asked[c]++
			if asked[c] < polls {
				fmt.Fprint(w, `{"fires": []}`)
				return
			}
			fmt.Fprintf(w, `{"fires": [{"customer_id": %q, "status": %q}]}`, c, status)
		default:
			t.Errorf("%s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBenchTriggerLatency: a sample is the time from the order's answer
// to the answer that shows its fire, one per order after the first; a
// fire that is not "fired", or none at all, is an error, not a sample.
func TestBenchTriggerLatency(t *testing.T) {
	srv := fakeFireAPI(t, 3, "fired")
	cl := newBenchClient(srv.URL, "secret", 1)
	defer cl.close()
	var res benchServeResult
	stored, err := cl.triggerLatencies(context.Background(), 100, 5, &res)
	if err != nil {
		t.Fatal(err)
	}
	if stored != 6 || len(res.latencies) != 5 || res.first <= 0 {
		t.Fatalf("%d orders stored, latencies %v, first %v; want 6, 5 of them and the first", stored, res.latencies, res.first)
	}
	for _, l := range res.latencies {
		// Three polls, a millisecond apart at least.
		if l < 2*benchPoll {
			t.Errorf("latency %v: shorter than the polls it took", l)
		}
	}

	held := fakeFireAPI(t, 1, "holdout")
	cl2 := newBenchClient(held.URL, "secret", 1)
	defer cl2.close()
	if _, err := cl2.triggerLatencies(context.Background(), 100, 5, &res); err == nil || !strings.Contains(err.Error(), "holdout") {
		t.Errorf("a fire held out: %v", err)
	}
	if _, fired, err := cl.triggerOnce(context.Background(), "c0000001", "never", 0); err != nil || fired {
		t.Errorf("a fire not yet there: fired %v, %v", fired, err)
	}
}

func TestBenchPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- {
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.99, 99 * time.Millisecond}, {0.5, 50 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", 100*tc.p, got, tc.want)
		}
	}
	if got := percentile(xs[:1], 0.99); got != 100*time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("p99 of none = %v", got)
	}
}

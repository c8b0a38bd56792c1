package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/koihq/koi/engine/apikey"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// The server measures: what a client of a real `koi serve` lives with,
// from outside the server's process, over HTTP on loopback. Each koi bench
// repetition starts a server of its own, on a fresh copy of the pond, and
// measures in it, in this order:
//
//   - trigger latency: single events that an `on:` rule fires on, one at a
//     time, each timed from the moment the server acknowledged it (its 201
//     came back) to the moment the fire it made can be read back through
//     GET /api/v1/fires, polled every millisecond. It runs first, on the
//     pond as generated: the budget's figure is at the bench's pond size.
//   - sustained ingest: batches of new visits from several clients at
//     once, for --ingest-seconds, counting only the events the server
//     acknowledged as inserted.
//
// One measurement per repetition, and the median over them, as for every
// other figure of koi bench: on a shared two-core machine a run varies by
// 10 to 30%, and one five-minute run is one sample of one moment. It costs
// --reps times --ingest-seconds; --ingest-seconds lowers it.

// benchOnPlaybook is the `on:` rule of the trigger latency: any order of
// any customer tags them, once, so every sample fires exactly once. It
// has no audience and no condition that could leave a customer out.
const benchOnPlaybook = `# koi bench: an event-triggered rule, timed from the order's acknowledgement to its fire.
name: bench-on
limits: { max_fires: 100% }
rules:
  - id: order-tag
    on: order
    when: "true"
    once: true
    actions:
      - tag: { add: [bench-ordered] }
`

const (
	benchOnName = "bench-on"
	// benchMaxBatch is the API's largest batch (httpapi.Config.MaxBatch's
	// default), and so --ingest-batch's bound.
	benchMaxBatch = 10_000
	// benchTriggerPace is the least time between two trigger samples'
	// events: each finds the server idle, as an order arriving at a
	// running shop does, and the samples measure the path, not a queue.
	benchTriggerPace = 20 * time.Millisecond
	// benchPoll is how often a trigger sample asks for its fire; the
	// latency it reports is at most this (and one request) late.
	benchPoll = time.Millisecond
	// benchFireWait bounds the wait for one fire: a fire that has not
	// appeared by then is a failure, not a sample.
	benchFireWait = time.Minute
	// benchServerStart bounds the start of a server, pond load included
	// (about 35 s at a million customers with history, far less here).
	benchServerStart = 10 * time.Minute
	// benchServerStop bounds its stop: a server gives a running playbook
	// 30 s and requests 10 s, then closes the store.
	benchServerStop = 3 * time.Minute
)

// benchServeOptions are koi bench's flags for the server measures.
type benchServeOptions struct {
	// ingest is how long the sustained ingest runs; 0 skips it.
	ingest time.Duration
	// batch is the events per request, clients the requests at once.
	batch, clients int
	// triggerEvents is the number of trigger latency samples; 0 skips it.
	triggerEvents int
	// consoleRequests is how many times each console page is timed; 0
	// skips the console measure.
	consoleRequests int
}

// benchServeResult is what one server repetition measured.
type benchServeResult struct {
	// ingested events, acknowledged, in ingestSeconds.
	ingested      int
	ingestSeconds float64
	// latencies of the trigger samples; first is that of the first fire
	// after the server started, which is not among them.
	latencies []time.Duration
	first     time.Duration
	// rss is the server's peak resident memory at its stop; pondRSS its
	// peak before the sustained ingest (see benchReport.ServePondRSSBytes).
	rss, pondRSS int64
	// console holds the console's page times; consoleFirst the pond
	// page's first, which computes its figures.
	console      []time.Duration
	consoleFirst time.Duration
}

// benchServe runs the server measures --reps times and files them in rep.
func benchServe(ctx context.Context, dir string, customers, reps int, o benchServeOptions, rep *benchReport, progress io.Writer) error {
	pbDir := filepath.Join(dir, "serve-playbooks")
	if err := writeServePlaybooks(pbDir); err != nil {
		return err
	}
	secret, err := newKeySecret()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "serve-koi.yaml")
	if err := writeServeConfig(cfg, pbDir, secret); err != nil {
		return err
	}
	rep.IngestSeconds, rep.IngestClients, rep.TriggerEvents = o.ingest.Seconds(), o.clients, o.triggerEvents
	var firsts, consoleFirsts []float64
	for r := 0; r < reps; r++ {
		fmt.Fprintf(progress, "koi serve: repetition %d of %d (%d on: events, console pages, %s of ingest)\n", r+1, reps, o.triggerEvents, o.ingest)
		res, err := benchServeOnce(ctx, dir, cfg, secret, customers, rep.Events, o)
		if err != nil {
			return fmt.Errorf("koi serve repetition %d: %w", r+1, err)
		}
		rep.RSSBytes = max(rep.RSSBytes, res.pondRSS)
		rep.ServeRSSBytes = max(rep.ServeRSSBytes, res.rss)
		rep.ServePondRSSBytes = max(rep.ServePondRSSBytes, res.pondRSS)
		if o.ingest > 0 {
			rep.IngestSustainedSamples = append(rep.IngestSustainedSamples, float64(res.ingested)/res.ingestSeconds)
		}
		if o.triggerEvents > 0 {
			rep.TriggerLatencyP99Samples = append(rep.TriggerLatencyP99Samples, millis(percentile(res.latencies, 0.99)))
			rep.TriggerLatencyP50Samples = append(rep.TriggerLatencyP50Samples, millis(percentile(res.latencies, 0.50)))
			firsts = append(firsts, millis(res.first))
		}
		if o.consoleRequests > 0 {
			rep.ConsoleP99Samples = append(rep.ConsoleP99Samples, millis(percentile(res.console, 0.99)))
			consoleFirsts = append(consoleFirsts, millis(res.consoleFirst))
		}
	}
	rep.ConsoleP99Ms, rep.ConsolePondFirstMs = median(rep.ConsoleP99Samples), median(consoleFirsts)
	rep.IngestSustainedEventsPerSecond = median(rep.IngestSustainedSamples)
	rep.TriggerLatencyP99Ms = median(rep.TriggerLatencyP99Samples)
	rep.TriggerLatencyP50Ms = median(rep.TriggerLatencyP50Samples)
	rep.TriggerFirstLatencyMs = median(firsts)
	return nil
}

// writeServePlaybooks writes the bench set, which the server holds as a
// real one does, and the `on:` playbook. The bench set's schedules are
// left out: a scheduled run of all of it must not start in the middle of
// a measurement because the clock passed 10:00.
func writeServePlaybooks(dir string) error {
	err := eachBenchPlaybook(dir, func(name string, b []byte) error {
		return os.WriteFile(filepath.Join(dir, name), benchScheduleLine.ReplaceAll(b, nil), 0o644)
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, benchOnName+".yaml"), []byte(benchOnPlaybook), 0o644)
}

var benchScheduleLine = regexp.MustCompile(`(?m)^schedule:.*\n`)

// writeServeConfig writes the server's koi.yaml: the playbooks, UTC as
// the bench's other measures use, and one admin key, by its hash, for the
// bench's clients (ingest and reading fires).
func writeServeConfig(path, playbooks, secret string) error {
	// JSON strings are YAML scalars: any path stays one.
	pb, err := json.Marshal(playbooks)
	if err != nil {
		return err
	}
	src := fmt.Sprintf("playbooks: %s\ntimezone: UTC\napi:\n  keys:\n    - { name: bench, role: admin, sha256: %s }\n",
		pb, apikey.HashKey(secret))
	return os.WriteFile(path, []byte(src), 0o600)
}

// benchServeOnce is one repetition: a server on a fresh copy of the pond,
// the trigger samples, the sustained ingest, and the server's stop.
func benchServeOnce(ctx context.Context, dir, cfg, secret string, customers, events int, o benchServeOptions) (*benchServeResult, error) {
	work := filepath.Join(dir, "serve.db")
	if err := copyDB(filepath.Join(dir, "pristine.db"), work); err != nil {
		return nil, err
	}
	defer func() {
		// The database with its WAL and the store's lock files: hundreds
		// of MB at a million customers, and new ones each repetition.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), filepath.Base(work)) {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}()
	srv, err := startBenchServer(ctx, work, cfg)
	if err != nil {
		return nil, err
	}
	defer srv.kill()
	cl := newBenchClient(srv.base, secret, max(o.clients, 1))
	defer cl.close()

	res := &benchServeResult{}
	stored := events // the events the database must hold at the end
	if o.triggerEvents > 0 {
		n, err := cl.triggerLatencies(ctx, customers, o.triggerEvents, res)
		stored += n
		if err != nil {
			return nil, srv.explain(err)
		}
	}
	if o.consoleRequests > 0 {
		if res.console, res.consoleFirst, err = consoleLatencies(ctx, srv.base, secret, o.consoleRequests); err != nil {
			return nil, srv.explain(err)
		}
	}
	// The budget's memory is the pond's as generated: read the peak
	// before the ingest grows it by millions of events.
	pondRSS, measured := peakRSSSoFar(srv.cmd.Process.Pid)
	if o.ingest > 0 {
		if err := cl.sustainedIngest(ctx, customers, o, res); err != nil {
			return nil, srv.explain(err)
		}
		stored += res.ingested
	}
	if res.rss, err = srv.stop(); err != nil {
		return nil, err
	}
	res.pondRSS = res.rss
	if measured {
		res.pondRSS = pondRSS
	}
	// Acknowledged means stored: count them, with the server gone.
	got, err := countEvents(ctx, work)
	if err != nil {
		return nil, err
	}
	if got != stored {
		return nil, fmt.Errorf("the server acknowledged %d new events, but the database holds %d more than the pond's %d", stored-events, got-events, events)
	}
	return res, nil
}

func countEvents(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the events: %w", err)
	}
	return n, nil
}

// benchServer is a `koi serve` child process.
type benchServer struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *tailBuffer
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's, once exited is closed
	// waiter runs cmd.Wait; stop and kill join it.
	waiter errgroup.Group
}

// benchServingLine is how koi serve says where it listens, once it does.
var benchServingLine = regexp.MustCompile(`koi serving http://(\S+?)/api/v1`)

// startBenchServer starts koi serve on a free loopback port (the kernel
// picks it, and the server prints it) and returns once /readyz says the
// server is ready.
func startBenchServer(ctx context.Context, db, cfg string) (*benchServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "serve", "--config", cfg, "--db", db, "--listen", "127.0.0.1:0")
	// koi's environment variables override koi.yaml (KOI_PLAYBOOKS would
	// swap the bench set): the server gets none of them.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KOI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	addr := &addrWatcher{found: make(chan string, 1)}
	s := &benchServer{cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = addr, s.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.waiter.Go(func() error {
		s.err = cmd.Wait()
		close(s.exited)
		return nil
	})
	timeout := time.NewTimer(benchServerStart)
	defer timeout.Stop()
	select {
	case a := <-addr.found:
		s.base = "http://" + a
	case <-s.exited:
		s.kill() // joins the waiter
		return nil, s.explain(fmt.Errorf("koi serve exited at start: %v", s.err))
	case <-timeout.C:
		s.kill()
		return nil, s.explain(fmt.Errorf("koi serve did not listen within %s", benchServerStart))
	}
	// A probe that hangs is tried again, not waited for.
	probe := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := probe.Get(s.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			s.kill() // joins the waiter
			return nil, s.explain(fmt.Errorf("koi serve exited before it was ready: %v", s.err))
		case <-timeout.C:
			s.kill()
			return nil, s.explain(fmt.Errorf("koi serve was not ready within %s", benchServerStart))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop stops the server as an operator does, with SIGTERM, and returns
// its peak resident memory.
func (s *benchServer) stop() (int64, error) {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-s.exited:
		_ = s.waiter.Wait()
	case <-time.After(benchServerStop):
		s.kill()
		return 0, s.explain(fmt.Errorf("koi serve did not stop within %s of SIGTERM", benchServerStop))
	}
	if s.err != nil {
		return 0, s.explain(fmt.Errorf("koi serve: %v", s.err))
	}
	return maxRSS(s.cmd.ProcessState), nil
}

// kill ends the server if it still runs, and waits for it.
func (s *benchServer) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
	}
	_ = s.waiter.Wait()
}

// explain adds the end of the server's log to err.
func (s *benchServer) explain(err error) error {
	if log := strings.TrimSpace(s.stderr.String()); log != "" {
		return fmt.Errorf("%w\nthe end of koi serve's log:\n%s", err, log)
	}
	return err
}

// addrWatcher is koi serve's stdout: it finds the address the server
// listens on, and keeps nothing else.
type addrWatcher struct {
	mu    sync.Mutex
	buf   []byte
	done  bool
	found chan string // receives the address once
}

func (w *addrWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if m := benchServingLine.FindSubmatch(w.buf); m != nil {
		w.done, w.buf = true, nil
		w.found <- string(m[1])
	} else if len(w.buf) > 64<<10 {
		w.buf = slices.Clone(w.buf[len(w.buf)-1024:])
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it (at most twice that
// in memory), for an error to show the end of a log.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = slices.Clone(t.b[len(t.b)-t.max:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b[max(0, len(t.b)-t.max):])
}

// benchClient is the bench's side of the HTTP API: one client, its
// connections kept alive, as a sender's would be.
type benchClient struct {
	base, auth string
	http       *http.Client
	tr         *http.Transport
}

func newBenchClient(base, secret string, conns int) *benchClient {
	tr := &http.Transport{
		MaxIdleConns:        conns + 2,
		MaxIdleConnsPerHost: conns + 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	// The server gives a request two minutes (api.write_timeout).
	return &benchClient{base: base, auth: "Bearer " + secret, tr: tr, http: &http.Client{Transport: tr, Timeout: 3 * time.Minute}}
}

func (c *benchClient) close() { c.tr.CloseIdleConnections() }

// do sends a request and returns the status and the body, read into buf.
func (c *benchClient) do(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", c.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// sustainedIngest posts batches of new visits of existing customers from
// o.clients clients at once until o.ingest has passed, and counts the
// events the server acknowledged as inserted. A batch any event of which
// the server refused, or a status but 200, ends the measure with an error:
// the figure is of events stored, nothing else. Visits trigger no rule.
func (c *benchClient) sustainedIngest(ctx context.Context, customers int, o benchServeOptions, res *benchServeResult) error {
	var next, acked atomic.Int64
	start := time.Now()
	deadline := start.Add(o.ingest)
	g, gctx := errgroup.WithContext(ctx)
	for range o.clients {
		g.Go(func() error {
			var body []byte
			var buf bytes.Buffer
			for time.Now().Before(deadline) {
				n := int(next.Add(1) - 1)
				body = appendVisitBatch(body[:0], n*o.batch, o.batch, customers, time.Now())
				st, err := c.do(gctx, http.MethodPost, "/api/v1/events/batch", body, &buf)
				if err != nil {
					return err
				}
				if st != http.StatusOK {
					return fmt.Errorf("batch %d: status %d: %.300s", n, st, buf.Bytes())
				}
				var out struct{ Inserted, Duplicates, Rejected int }
				if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
					return fmt.Errorf("batch %d: the answer: %w", n, err)
				}
				if out.Inserted != o.batch {
					return fmt.Errorf("batch %d: %d of %d events inserted, %d duplicates, %d rejected: %.300s",
						n, out.Inserted, o.batch, out.Duplicates, out.Rejected, buf.Bytes())
				}
				acked.Add(int64(out.Inserted))
			}
			return nil
		})
	}
	err := g.Wait()
	// Until the last batch under way was answered: every event counted
	// was acknowledged within the time counted.
	res.ingestSeconds = time.Since(start).Seconds()
	res.ingested = int(acked.Load())
	return err
}

// appendVisitBatch appends {"events": [...]} of n visits, events first to
// first+n-1 of the bench: new ids spread like the UUIDs most senders use
// (an ordered id would make every insert append to the same place), each
// of an existing customer.
func appendVisitBatch(b []byte, first, n, customers int, now time.Time) []byte {
	at := now.UTC().AppendFormat(nil, `"2006-01-02T15:04:05.000Z07:00"`)
	b = append(b, `{"events":[`...)
	for i := first; i < first+n; i++ {
		if i > first {
			b = append(b, ',')
		}
		b = append(b, `{"id":"serve-`...)
		b = appendHex16(b, uint64(i+1)*0x9e3779b97f4a7c15)
		b = append(b, `","customer_id":"`...)
		b = appendCustomerID(b, (i*7919)%customers)
		b = append(b, `","type":"visit","at":`...)
		b = append(b, at...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendHex16(b []byte, x uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(x>>shift)&0xf])
	}
	return b
}

// appendCustomerID appends the demo pond's id of customer i: c0000042.
func appendCustomerID(b []byte, i int) []byte {
	s := strconv.Itoa(i)
	b = append(b, 'c')
	for range 7 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// triggerLatencies sends one order at a time, each of a customer of its
// own, and times each from its acknowledgement to its fire. The first
// order, of customer 0, is not a sample: the first fire after start-up
// also scores the population, which a server does once an hour
// (res.first reports it). It returns the orders the server stored.
func (c *benchClient) triggerLatencies(ctx context.Context, customers, n int, res *benchServeResult) (int, error) {
	stored := 0
	// The server's trigger worker starts by skipping the events that are
	// already stored; an order stored before it did would never fire.
	// Send the first again until it fires: the customer fires once.
	for try := 0; ; try++ {
		lat, fired, err := c.triggerOnce(ctx, fmt.Sprintf("c%07d", 0), fmt.Sprintf("serve-first-%d", try), 10*time.Second)
		if err != nil {
			return stored, err
		}
		stored++
		if fired {
			res.first = lat
			break
		}
		if try == 5 {
			return stored, fmt.Errorf("the on: rule never fired for the first order, sent %d times", try+1)
		}
	}
	step := customers / (n + 1) // n+1 <= customers: distinct customers
	last := time.Now()
	for i := 1; i <= n; i++ {
		if wait := benchTriggerPace - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		lat, fired, err := c.triggerOnce(ctx, fmt.Sprintf("c%07d", i*step), fmt.Sprintf("serve-order-%d", i), benchFireWait)
		if err != nil {
			return stored, err
		}
		stored++
		if !fired {
			return stored, fmt.Errorf("no fire for the order of customer c%07d within %s of its acknowledgement", i*step, benchFireWait)
		}
		res.latencies = append(res.latencies, lat)
	}
	return stored, nil
}

// triggerOnce posts an order and polls for the fire it makes, for up to
// wait. The latency runs from the order's acknowledgement to the answer
// that showed the fire: at most one poll late, never early.
func (c *benchClient) triggerOnce(ctx context.Context, customer, id string, wait time.Duration) (time.Duration, bool, error) {
	var buf bytes.Buffer
	body := fmt.Appendf(nil, `{"id":%q,"customer_id":%q,"type":"order","amount":99,"at":%q}`,
		id, customer, time.Now().UTC().Format(time.RFC3339Nano))
	st, err := c.do(ctx, http.MethodPost, "/api/v1/events", body, &buf)
	if err != nil {
		return 0, false, err
	}
	if st != http.StatusCreated {
		return 0, false, fmt.Errorf("order %s: status %d: %.300s", id, st, buf.Bytes())
	}
	acked := time.Now()
	path := "/api/v1/fires?" + url.Values{"customer": {customer}, "playbook": {benchOnName}, "limit": {"1"}}.Encode()
	for {
		st, err := c.do(ctx, http.MethodGet, path, nil, &buf)
		if err != nil {
			return 0, false, err
		}
		if st != http.StatusOK {
			return 0, false, fmt.Errorf("fires of %s: status %d: %.300s", customer, st, buf.Bytes())
		}
		var out struct {
			Fires []struct{ Status string }
		}
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
			return 0, false, fmt.Errorf("fires of %s: %w", customer, err)
		}
		if len(out.Fires) > 0 {
			took := time.Since(acked)
			if s := out.Fires[0].Status; s != domain.FireFired {
				return 0, false, fmt.Errorf("the order of %s was decided %q, not fired", customer, s)
			}
			return took, true, nil
		}
		if time.Since(acked) > wait {
			return 0, false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(benchPoll):
		}
	}
}

// percentile returns the nearest-rank p-th percentile of xs (0 for none).
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

package cli

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine/apikey"
)

// goroutineHeader is the first line of a goroutine's stack trace.
var goroutineHeader = regexp.MustCompile(`^goroutine (\d+) `)

// goroutines returns the stack of every goroutine, by id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if m := goroutineHeader.FindStringSubmatch(g); m != nil {
			out[m[1]] = g
		}
	}
	return out
}

// currentGoroutine returns the id of the calling goroutine.
func currentGoroutine() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return goroutineHeader.FindStringSubmatch(string(buf))[1]
}

// createdBy is the last line but one of a goroutine's stack trace: who
// started it.
var createdBy = regexp.MustCompile(`created by \S+ in goroutine (\d+)`)

// started returns the stacks of the goroutines that are not in before,
// were not started by one in before (the test's loopback receiver serves
// each connection on a goroutine of its own), and are not ignored. Always
// ignored: HTTP client connections, the test's and those of the webhook
// channel's client alike (http.DefaultTransport keeps them, idle, for
// later requests), and the runtime's signal loop, started by the first
// signal.Notify of the process, never to end.
func started(before map[string]string, ignore ...string) []string {
	var out []string
	for id, stack := range goroutines() {
		if _, ok := before[id]; ok {
			continue
		}
		if m := createdBy.FindStringSubmatch(stack); m != nil && before[m[1]] != "" && !strings.Contains(stack, "cli.TestServe") {
			continue
		}
		// A goroutine caught between returning from its function and
		// leaving the list has done its work: it is past the WaitGroup or
		// channel its owner waits for. Its top frame says so: the
		// runtime's exit, or errgroup's wrapper once the worker returned
		// and the group was told.
		exiting := strings.Contains(stack, "]:\nruntime.goexit1()") || strings.Contains(stack, "]:\ngolang.org/x/sync/errgroup.(*Group).Go.func1()")
		skip := exiting || strings.Contains(stack, "net/http.(*persistConn)") || strings.Contains(stack, "os/signal.")
		for _, s := range ignore {
			skip = skip || strings.Contains(stack, s)
		}
		if !skip {
			out = append(out, stack)
		}
	}
	return out
}

// koi serve in this process, stopped by its context while the outbox is
// delivering to a slow receiver: by the time the store is closed every
// goroutine serve started has returned (but the store's own, which closing
// it ends), the delivery under way finished and was recorded, and once
// serve returns no goroutine it started is left.
func TestServeJoinsItsWorkersBeforeClosingTheStore(t *testing.T) {
	received := make(chan struct{}, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case received <- struct{}{}:
		default:
		}
		time.Sleep(500 * time.Millisecond) // still delivering when serve is told to stop
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()

	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.Mkdir(pbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(pbDir, "daily.yaml"), e2eDaily)
	write(t, filepath.Join(pbDir, "thanks.yaml"), `name: thanks
rules:
  - id: first-order
    on: order
    when: orders == 1
    once: true
    actions:
      - message: { channel: hook, template: "thanks, {{.name}}" }
`)
	const admin = "join-admin"
	t.Setenv("KOI_TEST_HOOK_SECRET", "hook-secret")
	cfgPath := filepath.Join(dir, "koi.yaml")
	write(t, cfgPath, fmt.Sprintf("playbooks: %s\ntimezone: UTC\nchannels:\n  hook: { type: webhook, url: %q, secret_env: KOI_TEST_HOOK_SECRET }\napi:\n  keys:\n    - { name: ops, role: admin, sha256: %s }\n",
		pbDir, rcv.URL, apikey.HashKey(admin)))
	db := filepath.Join(dir, "koi.db")

	before := goroutines()
	var atClose []string
	closed := false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	var logs syncWriter
	logs.w = &bytes.Buffer{}
	go func() {
		g := &globals{db: db, config: cfgPath, register: []func(*actions.Registry){builtin.Register}}
		o := serveOptions{listen: "127.0.0.1:0", watch: true, clock: clockwork.NewFakeClockAt(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)),
			serving: func(a string) { addr <- a },
			storeClosing: func() {
				closed = true
				// serve's own goroutine is the one closing the store;
				// the store's (and its driver's) end as it closes.
				atClose = started(before, "goroutine "+currentGoroutine()+" ", "engine/sqlite.", "database/sql.", "modernc.org/sqlite.")
			}}
		done <- serve(ctx, g, o, io.Discard, &logs)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a + "/api/v1"
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	call := func(method, path, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	call("PUT", "/customers/c1", `{"member": true, "joined_at": "2026-04-01"}`, 200)
	call("POST", "/events", `{"id": "o1", "customer_id": "c1", "type": "order", "amount": 99, "at": "2026-05-01T08:58:00Z"}`, 201)
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatalf("the thank-you message was never delivered; log:\n%s", logs.w)
	}
	cancel() // mid-delivery
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !closed {
		t.Fatal("serve returned without closing the store")
	}
	for _, s := range atClose {
		t.Errorf("still running when the store was closed:\n%s", s)
	}
	client.CloseIdleConnections()
	// Goroutines that returned may take a moment to be gone from the list.
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if left = started(before); len(left) == 0 {
			break
		}
	}
	for _, s := range left {
		t.Errorf("still running after serve returned:\n%s", s)
	}
	if n := query(t, db, `SELECT count(*) FROM jobs WHERE state = 'done'`); n != 1 {
		t.Errorf("%d jobs sent, want the one delivered as serve stopped, recorded", n)
	}
}

// A goroutine started with a bare go statement is one nobody joins; the
// test above catches one still running when the store closes, but not one
// that happens to end quickly. So the commands, and the file watcher koi
// serve runs, start none: koi serve runs its workers in its errgroup, and
// the watcher's loop runs on a goroutine its caller owns.
func TestNoBareGoStatements(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "engine", "watch", "watch.go"))
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: a go statement; start it in an errgroup its caller waits for", fset.Position(g.Pos()))
			}
			return true
		})
	}
}

// A stopping server waits for the requests under way, however long they
// take, and turns new ones away: what lets it close the store after the
// last handler returned, where http.Server.Shutdown gives up at its
// deadline.
func TestRequestsWaitForHandlers(t *testing.T) {
	var reqs requests
	entered, release := make(chan struct{}), make(chan struct{})
	h := reqs.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	<-entered
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		reqs.closeAndWait()
	}()
	// closeAndWait must not return while the handler runs; it is released
	// only below, so any return before that is a failure, however late.
	for !closedForNew(&reqs) {
		runtime.Gosched()
	}
	select {
	case <-waited:
		t.Fatal("closeAndWait returned while a handler was running")
	default:
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Errorf("a request after close: %d %s", rec.Code, rec.Body)
	}
	close(release)
	<-served
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("closeAndWait did not return once the handler did")
	}
}

// closedForNew reports whether reqs turns new requests away.
func closedForNew(r *requests) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed
}

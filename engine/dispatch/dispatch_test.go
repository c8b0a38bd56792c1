package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/actions/webhook"
	"github.com/koihq/koi/actions/wecom"
	"github.com/koihq/koi/actions/wecom/wecomtest"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/dispatch"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

var t0 = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

const secret = "s3cret"

// receiver is a loopback webhook receiver that verifies signatures and
// answers with status(n) for the n-th request (from 1).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	status func(n int) int
	mu     sync.Mutex
	n      int
	keys   map[string]int
	texts  []string
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{t: t, status: status, keys: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := webhook.Verify([]byte(secret), req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("bad signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m actions.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body: %v", err)
		}
		r.mu.Lock()
		r.n++
		code := r.status(r.n)
		if code == http.StatusOK {
			r.keys[req.Header.Get("Idempotency-Key")]++
			r.texts = append(r.texts, m.Text)
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// fixture is a database with customers c0..c(n-1), a playbook messaging
// all of them on the channel hook, and a run that enqueued the messages.
type fixture struct {
	db      *sqlite.DB
	workers map[string]actions.Worker
	now     atomic.Int64 // the dispatcher's clock, unix ms
}

func newFixture(t *testing.T, n int, rcv *receiver, optOut ...string) *fixture {
	t.Helper()
	return newFixtureWith(t, n, rcv, `name: hello
limits: { max_fires: 100% }
rules:
  - id: hi
    when: member
    once: true
    actions:
      - coupon: { amount: 5, expires_in: 7d }
      - message: { channel: hook, template: "{{.name}}: {{.coupon.code}}" }
`, optOut...)
}

// newFixtureWith is newFixture with playbook instead of hello, which
// messages everyone on hook.
func newFixtureWith(t *testing.T, n int, rcv *receiver, playbook string, optOut ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var cs []domain.Customer
	for i := range n {
		cs = append(cs, domain.Customer{ID: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("客户%d", i), Member: true, JoinedAt: t0.Add(-time.Hour)})
	}
	if err := db.UpsertCustomers(ctx, cs, t0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "playbook.yaml"), []byte(playbook), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := builtin.Registry()
	e := engine.New(db, reg, engine.Config{Channels: []string{"hook"}, MaxAttempts: 3})
	if err := e.Load(dir); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: t0})
	if err != nil || runs[0].Fired != n {
		t.Fatalf("run: %v %+v", err, runs)
	}
	if len(optOut) > 0 {
		// Opting out after the fire: consent is checked again at delivery.
		c := cs[0]
		c.OptOut = optOut
		if err := db.UpsertCustomers(ctx, []domain.Customer{c}, t0); err != nil {
			t.Fatal(err)
		}
	}
	workers := hookWorkers(t, reg, rcv)
	f := &fixture{db: db, workers: workers}
	f.now.Store(t0.UnixMilli())
	return f
}

// hookWorkers are reg's workers with the channel hook posting to rcv.
func hookWorkers(t *testing.T, reg *actions.Registry, rcv *receiver) map[string]actions.Worker {
	t.Helper()
	ep := webhook.New()
	ep.(*webhook.Endpoint).URL = rcv.srv.URL
	ep.(*webhook.Endpoint).SecretEnv = "HOOK_SECRET"
	if err := ep.Open(actions.OpenContext{Name: "hook", Getenv: func(string) string { return secret }}); err != nil {
		t.Fatal(err)
	}
	workers, err := reg.Workers(actions.WorkerContext{Channels: map[string]actions.Channel{"hook": ep}})
	if err != nil {
		t.Fatal(err)
	}
	return workers
}

func (f *fixture) dispatcher(o dispatch.Options) *dispatch.Dispatcher {
	o.Now = func() time.Time { return time.UnixMilli(f.now.Load()).UTC() }
	return dispatch.New(f.db, f.workers, o)
}

func (f *fixture) drain(t *testing.T, d *dispatch.Dispatcher) int {
	t.Helper()
	n, err := d.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) jobs(t *testing.T) []*domain.Job {
	t.Helper()
	jobs, err := f.db.ListJobs(context.Background(), domain.JobFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestDeliversEachMessageOnceSignedWithItsKey(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 50, rcv)
	if n := f.drain(t, f.dispatcher(dispatch.Options{Concurrency: 4, Batch: 7})); n != 50 {
		t.Errorf("drain made %d attempts, want 50", n)
	}
	if len(rcv.keys) != 50 {
		t.Errorf("receiver got %d distinct keys, want 50", len(rcv.keys))
	}
	for k, n := range rcv.keys {
		if n != 1 || !strings.HasPrefix(k, "hello/hi/c") || !strings.HasSuffix(k, "/1#1") {
			t.Errorf("key %q received %d times", k, n)
		}
	}
	for _, text := range rcv.texts {
		if !strings.HasPrefix(text, "客户") || !strings.Contains(text, ": K") {
			t.Errorf("text %q: want the name and the coupon code", text)
		}
	}
	for _, j := range f.jobs(t) {
		if j.State != domain.JobDone || j.Attempts != 1 {
			t.Errorf("job %d: %s after %d attempts", j.ID, j.State, j.Attempts)
		}
	}
}

// A failing receiver is retried with growing, jittered delays; a job that
// runs out of attempts is dead with its last error.
func TestRetriesWithBackoffThenDeadLetters(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	f := newFixture(t, 1, rcv)
	d := f.dispatcher(dispatch.Options{Backoff: 10 * time.Second, MaxBackoff: time.Minute})
	f.drain(t, d)
	j := f.jobs(t)[0]
	if j.State != domain.JobPending || j.Attempts != 1 || !strings.Contains(j.LastError, "503") {
		t.Fatalf("after a 503: %s, %d attempts, %q", j.State, j.Attempts, j.LastError)
	}
	// Backoff 10s, jittered down by at most half.
	if wait := j.RunAt.Sub(t0); wait < 5*time.Second || wait > 10*time.Second {
		t.Errorf("first retry after %v, want 5s..10s", wait)
	}
	if n := f.drain(t, d); n != 0 {
		t.Errorf("a job not yet due was attempted (%d)", n)
	}
	f.now.Store(j.RunAt.UnixMilli())
	f.drain(t, d)
	j = f.jobs(t)[0]
	if wait := j.RunAt.Sub(time.UnixMilli(f.now.Load())); j.Attempts != 2 || wait < 10*time.Second || wait > 20*time.Second {
		t.Errorf("second retry: %d attempts, after %v; want 2, 10s..20s", j.Attempts, wait)
	}
	f.now.Store(j.RunAt.UnixMilli())
	f.drain(t, d)
	if j = f.jobs(t)[0]; j.State != domain.JobDone || j.Attempts != 3 {
		t.Errorf("third attempt: %s after %d", j.State, j.Attempts)
	}

	// MaxAttempts is 3 (the engine's config): a receiver that always fails
	// gets three attempts, then the job is dead.
	down := newReceiver(t, func(int) int { return http.StatusBadGateway })
	f = newFixture(t, 1, down)
	d = f.dispatcher(dispatch.Options{Backoff: time.Second})
	for range 5 {
		f.drain(t, d)
		f.now.Add(time.Hour.Milliseconds())
	}
	j = f.jobs(t)[0]
	if j.State != domain.JobDead || j.Attempts != 3 || !strings.Contains(j.LastError, "gave up after 3 attempts") || down.requests() != 3 {
		t.Errorf("always failing: %s after %d attempts (%d requests), %q", j.State, j.Attempts, down.requests(), j.LastError)
	}
}

// A 4xx other than 408 and 429 will not get better: dead at once.
func TestPermanentErrorsDeadLetterAtOnce(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusUnprocessableEntity })
	f := newFixture(t, 1, rcv)
	f.drain(t, f.dispatcher(dispatch.Options{}))
	if j := f.jobs(t)[0]; j.State != domain.JobDead || j.Attempts != 1 || !strings.Contains(j.LastError, "422") {
		t.Errorf("after a 422: %s, %d attempts, %q", j.State, j.Attempts, j.LastError)
	}
}

// retryAfterJob delivers one job to a receiver answering status with a
// Retry-After header, and returns the job as the attempt left it.
func retryAfterJob(t *testing.T, status int, retryAfter string, o dispatch.Options) *domain.Job {
	t.Helper()
	rcv := newReceiver(t, func(int) int { return status })
	rcv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(status)
	})
	f := newFixture(t, 1, rcv)
	f.drain(t, f.dispatcher(o))
	return f.jobs(t)[0]
}

// A 429 with Retry-After is retried no sooner than it says.
func TestRetryAfterIsHonoured(t *testing.T) {
	if j := retryAfterJob(t, http.StatusTooManyRequests, "120", dispatch.Options{Backoff: time.Second}); j.State != domain.JobPending || j.RunAt.Sub(t0) < 120*time.Second {
		t.Errorf("after 429 Retry-After 120: %s due in %v", j.State, j.RunAt.Sub(t0))
	}
}

// A customer who opted out of the channel is never sent to; the job says
// why.
func TestOptedOutCustomersAreSkipped(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 3, rcv, "hook")
	var skipped atomic.Int32
	d := f.dispatcher(dispatch.Options{Delivered: func(_ *domain.Job, s domain.JobState, _ time.Duration) {
		if s == domain.JobSkipped {
			skipped.Add(1)
		}
	}})
	if n := f.drain(t, d); n != 3 || skipped.Load() != 1 {
		t.Errorf("drain recorded %d outcomes, %d skipped; want 3, 1 (koi run reports them)", n, skipped.Load())
	}
	for _, j := range f.jobs(t) {
		want := domain.JobDone
		if j.CustomerID == "c0" {
			want = domain.JobSkipped
			if !strings.Contains(j.LastError, "consent") {
				t.Errorf("skipped job's reason %q, want consent", j.LastError)
			}
		}
		if j.State != want {
			t.Errorf("%s's job: %s, want %s", j.CustomerID, j.State, want)
		}
	}
	if len(rcv.keys) != 2 {
		t.Errorf("receiver got %d messages, want 2", len(rcv.keys))
	}
}

// The rate limit holds deliveries of a channel to its rate: 30 messages
// at 20 per second, a burst of 20, take at least half a second. (A lower
// bound only: a slow machine makes it longer, never shorter.)
func TestRateLimitPerChannel(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 30, rcv)
	start := time.Now()
	f.drain(t, f.dispatcher(dispatch.Options{Rates: map[string]float64{"hook": 20}}))
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("30 messages at 20/s took %v, want at least 0.45s", took)
	}
	if len(rcv.keys) != 30 {
		t.Errorf("receiver got %d, want 30", len(rcv.keys))
	}
}

// Only one dispatcher per database delivers.
func TestOneDispatcherPerDatabase(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 1, rcv)
	release, ok, err := f.db.LockDispatch()
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if n := f.drain(t, f.dispatcher(dispatch.Options{})); n != 0 || rcv.requests() != 0 {
		t.Errorf("drained %d while another held the lock", n)
	}
	release()
	if n := f.drain(t, f.dispatcher(dispatch.Options{})); n != 1 {
		t.Errorf("drained %d after the lock was released, want 1", n)
	}
}

// Operators retry a dead job and cancel a pending one; a job in another
// state is a conflict.
func TestRetryAndCancel(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	f := newFixture(t, 2, rcv)
	ctx := context.Background()
	jobs := f.jobs(t)
	if _, err := f.db.CancelJob(ctx, jobs[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	f.drain(t, f.dispatcher(dispatch.Options{}))
	dead := f.jobs(t)[1]
	if dead.State != domain.JobDead {
		t.Fatalf("job %d: %s, want dead", dead.ID, dead.State)
	}
	if _, err := f.db.CancelJob(ctx, dead.ID, t0); domain.ErrorCode(err) != domain.EConflict {
		t.Errorf("cancelling a dead job: %v, want a conflict", err)
	}
	if j, err := f.db.RetryJob(ctx, dead.ID, t0); err != nil || j.State != domain.JobPending || j.Attempts != 0 {
		t.Fatalf("retry: %+v %v", j, err)
	}
	f.drain(t, f.dispatcher(dispatch.Options{}))
	if j := f.jobs(t)[1]; j.State != domain.JobDone {
		t.Errorf("retried job: %s", j.State)
	}
	if j := f.jobs(t)[0]; j.State != domain.JobCancelled {
		t.Errorf("cancelled job: %s", j.State)
	}
	if _, err := f.db.RetryJob(ctx, 999, t0); domain.ErrorCode(err) != domain.ENotFound {
		t.Errorf("retrying no job: %v", err)
	}
}

// Messages on a WeCom channel, through the dispatcher, against the fake
// WeCom API: a token that expired since it was cached is fetched again
// once, by one of the concurrent deliveries, within the same attempt; each
// message goes from the customer's guide.
func TestWeComTokenRefreshDuringDispatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 20, newReceiver(t, func(int) int { return http.StatusOK }))
	var cs []domain.Customer
	for i := range 20 {
		c := domain.Customer{ID: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("客户%d", i), Member: true, JoinedAt: t0.Add(-time.Hour), WeComID: fmt.Sprintf("wm%d", i)}
		if i%2 == 0 {
			c.Guide = "g01"
		}
		cs = append(cs, c)
	}
	if err := f.db.UpsertCustomers(ctx, cs, t0); err != nil {
		t.Fatal(err)
	}
	fake := wecomtest.New("ww1", "corp-secret")
	defer fake.Close()
	fake.Members = map[string][]string{}
	for i := range 20 {
		member := map[bool]string{true: "wangxiao", false: "front_desk"}[i%2 == 0]
		fake.Members[member] = append(fake.Members[member], fmt.Sprintf("wm%d", i))
	}
	ch := &wecom.Channel{BaseURL: fake.URL, CorpID: "ww1", SecretEnv: "WECOM_SECRET", Sender: "front_desk"}
	if err := ch.Open(actions.OpenContext{Name: "hook", Getenv: func(string) string { return "corp-secret" },
		Guides: []actions.Guide{{ID: "g01", WeComUser: "wangxiao"}}}); err != nil {
		t.Fatal(err)
	}
	// Cache a token, then let it expire on WeCom's side.
	if err := ch.Send(ctx, &actions.Message{Text: "warm-up", To: actions.Contact{WeComID: "wm0"}}); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens()
	var err error
	if f.workers, err = builtin.Registry().Workers(actions.WorkerContext{Channels: map[string]actions.Channel{"hook": ch}}); err != nil {
		t.Fatal(err)
	}
	if n := f.drain(t, f.dispatcher(dispatch.Options{Concurrency: 8})); n != 20 {
		t.Fatalf("drained %d, want 20", n)
	}
	for _, j := range f.jobs(t) {
		if j.State != domain.JobTaskCreated || j.Attempts != 1 || !strings.Contains(j.Receipt, "msgGAAA") {
			t.Errorf("job %d: %s after %d attempts (%s), receipt %q", j.ID, j.State, j.Attempts, j.LastError, j.Receipt)
		}
	}
	if fake.Fetches() != 2 {
		t.Errorf("%d token fetches, want 2 (the first, and one refresh)", fake.Fetches())
	}
	senders := map[string]int{}
	for _, task := range fake.Tasks()[1:] {
		senders[task.Sender] += len(task.Customers)
		if !strings.HasPrefix(task.Text, "客户") {
			t.Errorf("content %q", task.Text)
		}
	}
	if senders["wangxiao"] != 10 || senders["front_desk"] != 10 {
		t.Errorf("senders %v, want 10 from the guide's account and 10 from the default", senders)
	}
}

// An unsubscribe without a channel opts the customer out of every channel
// (OptOutAll). A message a quiet-hours deferral holds past that moment must
// then never leave: consent is checked at delivery with the same rule as at
// the fire, so "*" counts there too.
func TestOptOutOfEveryChannelStopsADeferredMessage(t *testing.T) {
	ctx := context.Background()
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	night := time.Date(2026, 6, 1, 23, 0, 0, 0, time.UTC)
	cs := []domain.Customer{
		{ID: "stays", Name: "留下", Member: true, JoinedAt: night.Add(-time.Hour)},
		{ID: "leaves", Name: "离开", Member: true, JoinedAt: night.Add(-time.Hour)},
	}
	if err := db.UpsertCustomers(ctx, cs, night); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.yaml"), []byte(`name: hello
limits: { max_fires: 100% }
rules:
  - id: hi
    when: member
    once: true
    actions:
      - message: { channel: hook, template: "{{.name}}, hello" }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := builtin.Registry()
	e := engine.New(db, reg, engine.Config{Channels: []string{"hook"}, UnsubscribeEvent: "unsubscribe",
		Policy:  rulesQuiet(t, "21:30", "09:00"),
		Profile: profile.ProfileConfig{Location: time.UTC}})
	if err := e.Load(dir); err != nil {
		t.Fatal(err)
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: night})
	if err != nil || runs[0].Fired != 2 {
		t.Fatalf("run: %v %+v", err, runs)
	}
	// After the fire, before the morning: an unsubscribe naming no channel.
	if _, err := e.AddEvents(ctx, []domain.Event{{ID: "u1", CustomerID: "leaves", Type: "unsubscribe", At: night.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	workers := hookWorkers(t, reg, rcv)
	var clock atomic.Int64
	clock.Store(night.Add(2 * time.Hour).UnixMilli())
	d := dispatch.New(db, workers, dispatch.Options{Now: func() time.Time { return time.UnixMilli(clock.Load()).UTC() }})
	if n, err := d.Drain(ctx); err != nil || n != 0 {
		t.Fatalf("at 01:00 drained %d (%v); want nothing due inside quiet hours", n, err)
	}
	clock.Store(time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC).UnixMilli())
	if n, err := d.Drain(ctx); err != nil || n != 2 {
		t.Fatalf("at 09:00 drained %d (%v); want 2", n, err)
	}
	jobs, err := db.ListJobs(ctx, domain.JobFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		want := domain.JobDone
		if j.CustomerID == "leaves" {
			want = domain.JobSkipped
		}
		if j.State != want {
			t.Errorf("%s's job: %s (%s), want %s", j.CustomerID, j.State, j.LastError, want)
		}
	}
	if len(rcv.texts) != 1 || rcv.texts[0] != "留下, hello" {
		t.Errorf("receiver got %q, want only 留下's message", rcv.texts)
	}
}

func rulesQuiet(t *testing.T, from, to string) rules.Policy {
	t.Helper()
	py := rules.PolicyYAML{QuietHours: &rules.QuietYAML{From: from, To: to}}
	p, errs := py.Compile("koi.yaml", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return p
}

// fullDisk is a job store whose writes of outcomes fail while full is set,
// as SQLite's do when the disk is full.
type fullDisk struct {
	engine.JobStore
	full     atomic.Bool
	finishes atomic.Int32
}

func (s *fullDisk) FinishJobs(ctx context.Context, now time.Time, outcomes []domain.JobOutcome) error {
	s.finishes.Add(1)
	if s.full.Load() {
		return errors.New("database or disk is full (13)")
	}
	return s.JobStore.FinishJobs(ctx, now, outcomes)
}

// lines counts log lines, safely from several goroutines.
type lines struct {
	mu sync.Mutex
	n  int
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

func (l *lines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// With the disk full, each delivery succeeds and recording it fails. The
// dispatcher must not deliver again at once, in a loop (half a million
// deliveries of 2,352 jobs in 70 s, once): the jobs stay claimed, no new
// work is taken, recording is retried after growing delays, and the log
// says so once, not per attempt. When the disk has room again, the
// outcomes are recorded and nothing was delivered twice.
func TestAFullDiskDoesNotDeliverAgainAndAgain(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 50, rcv)
	store := &fullDisk{JobStore: f.db}
	store.full.Store(true)
	var logged lines
	d := dispatch.New(store, f.workers, dispatch.Options{Now: time.Now, Poll: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wait("the first deliveries", func() bool { return rcv.requests() == 50 })
	time.Sleep(2 * time.Second)
	if n := rcv.requests(); n != 50 {
		t.Errorf("%d deliveries of 50 jobs while outcomes could not be recorded, want 50", n)
	}
	// Tries after 0.5 s, 1 s, 2 s: three or four in two seconds, not thousands.
	if n := store.finishes.Load(); n > 5 {
		t.Errorf("%d tries to record in 2 s; want a few, with growing delays", n)
	}
	if n := logged.count(); n > 2 {
		t.Errorf("%d log lines in 2 s of failing writes; want the first one only", n)
	}
	store.full.Store(false)
	wait("the outcomes recorded", func() bool {
		jobs := f.jobs(t)
		for _, j := range jobs {
			if j.State != domain.JobDone {
				return false
			}
		}
		return len(jobs) == 50
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for key, n := range rcv.keys {
		if n != 1 {
			t.Errorf("%s delivered %d times", key, n)
		}
	}
}

// koi run's drain stops taking work when outcomes cannot be recorded, and
// returns an error after a few tries; the next drain delivers those jobs
// once more, since their outcomes were lost: at most twice in all.
func TestADrainOnAFullDiskStops(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixture(t, 20, rcv)
	store := &fullDisk{JobStore: f.db}
	store.full.Store(true)
	d := dispatch.New(store, f.workers, dispatch.Options{Now: time.Now, Logger: slog.New(slog.DiscardHandler)})
	if _, err := d.Drain(context.Background()); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("drain on a full disk: %v, want the error", err)
	}
	if n := rcv.requests(); n != 20 {
		t.Fatalf("%d deliveries of 20 jobs, want each once", n)
	}
	store.full.Store(false)
	if n, err := dispatch.New(store, f.workers, dispatch.Options{Now: time.Now}).Drain(context.Background()); err != nil || n != 20 {
		t.Fatalf("second drain: %d %v", n, err)
	}
	for key, n := range rcv.keys {
		if n != 2 {
			t.Errorf("%s delivered %d times, want twice (once more for the lost outcome)", key, n)
		}
	}
}

// A webhook action's job goes out on its endpoint's channel: the
// channel's rate holds it (100 posts went out in 0.01 s at rate 5), and a
// customer who opted out of every channel is not posted about.
func TestWebhookActionsKeepTheirChannelsRateAndConsent(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	f := newFixtureWith(t, 13, rcv, `name: sync
limits: { max_fires: 100% }
rules:
  - id: crm
    when: member
    once: true
    actions:
      - webhook: { endpoint: hook }
`, actions.OptOutAll)
	for _, j := range f.jobs(t) {
		if j.Channel != "hook" || j.Kind != webhook.Kind {
			t.Fatalf("job %d: kind %s, channel %q; want the endpoint's channel", j.ID, j.Kind, j.Channel)
		}
	}
	// A post to the brand's systems is no message to the customer: no
	// contact history, which caps and contacts_7d count.
	var contacts int
	if err := f.db.SQL().QueryRow(`SELECT count(*) FROM contacts`).Scan(&contacts); err != nil || contacts != 0 {
		t.Errorf("%d contacts recorded for webhook posts (%v), want none", contacts, err)
	}
	start := time.Now()
	n := f.drain(t, f.dispatcher(dispatch.Options{Rates: map[string]float64{"hook": 10}}))
	took := time.Since(start)
	if n != 13 || rcv.requests() != 12 {
		t.Errorf("recorded %d outcomes, posted %d; want 13 and 12 (c0 opted out of everything)", n, rcv.requests())
	}
	// 12 posts at 10 a second, a burst of 10: the last two wait 0.2 s.
	if took < 150*time.Millisecond {
		t.Errorf("12 posts at 10/s took %v", took)
	}
	for _, j := range f.jobs(t) {
		if j.CustomerID == "c0" && j.State != domain.JobSkipped {
			t.Errorf("c0's post: %s, want skipped for consent", j.State)
		}
	}
}

// A Retry-After beyond max_backoff waits max_backoff: a receiver cannot
// park a job for a year.
func TestRetryAfterIsCappedByMaxBackoff(t *testing.T) {
	if j := retryAfterJob(t, http.StatusServiceUnavailable, "31536000", dispatch.Options{Backoff: time.Second, MaxBackoff: 10 * time.Minute}); j.State != domain.JobPending || j.RunAt.Sub(t0) > 10*time.Minute {
		t.Errorf("after Retry-After of a year: %s due in %v, want at most max_backoff", j.State, j.RunAt.Sub(t0))
	}
}

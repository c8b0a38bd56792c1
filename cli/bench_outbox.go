package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/actions/webhook"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/dispatch"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/sqlite"
)

// benchOutboxPlaybook messages every customer on a webhook channel.
const benchOutboxPlaybook = `name: outbox
limits: { max_fires: 100% }
rules:
  - id: hello
    when: "true"
    once: true
    actions:
      - message: { channel: hook, template: "{{.name}},您好" }
`

// benchOutbox measures the outbox: a run enqueues one message per
// customer, then a dispatcher with the default settings delivers them to
// a webhook receiver on loopback, in this process, which verifies every
// signature. It returns deliveries per second of each repetition,
// counted from the dispatcher's start to its last outcome recorded.
func benchOutbox(ctx context.Context, dir string, jobs, reps int, progress io.Writer) ([]float64, error) {
	secret := []byte("bench-secret")
	var received, rejected atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute) != nil {
			rejected.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	pbDir := filepath.Join(dir, "outbox-playbooks")
	if err := os.MkdirAll(pbDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(pbDir, "outbox.yaml"), []byte(benchOutboxPlaybook), 0o644); err != nil {
		return nil, err
	}
	var samples []float64
	for r := 0; r < reps; r++ {
		fmt.Fprintf(progress, "outbox: repetition %d of %d, %d messages\n", r+1, reps, jobs)
		rate, err := benchOutboxOnce(ctx, filepath.Join(dir, "outbox.db"), pbDir, rcv.URL, secret, jobs)
		if err != nil {
			return nil, fmt.Errorf("outbox repetition %d: %w", r+1, err)
		}
		samples = append(samples, rate)
	}
	if n := rejected.Load(); n > 0 {
		return nil, fmt.Errorf("outbox: the receiver rejected %d signatures", n)
	}
	if n := received.Load(); n != int64(jobs*reps) {
		return nil, fmt.Errorf("outbox: the receiver got %d messages, want %d", n, jobs*reps)
	}
	return samples, nil
}

func benchOutboxOnce(ctx context.Context, path, playbooks, url string, secret []byte, jobs int) (float64, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	cs := make([]domain.Customer, jobs)
	for i := range cs {
		cs[i] = domain.Customer{ID: fmt.Sprintf("c%07d", i), Name: fmt.Sprintf("客户%d", i), Member: true, JoinedAt: benchAnchor.Add(-24 * time.Hour)}
	}
	if err := db.UpsertCustomers(ctx, cs, benchAnchor); err != nil {
		return 0, err
	}
	reg := builtin.Registry()
	e := engine.New(db, reg, engine.Config{Channels: []string{"hook"}})
	if err := e.Load(playbooks); err != nil {
		return 0, err
	}
	runs, err := e.Run(ctx, engine.RunRequest{At: benchAnchor})
	if err != nil {
		return 0, err
	}
	if runs[0].Fired != jobs {
		return 0, fmt.Errorf("fired %d, want %d", runs[0].Fired, jobs)
	}
	hook := &webhook.Endpoint{URL: url, SecretEnv: "BENCH_SECRET"}
	if err := hook.Open(actions.OpenContext{Name: "hook", Getenv: func(string) string { return string(secret) }, HTTPClient: actions.NewHTTPClient(0)}); err != nil {
		return 0, err
	}
	workers, err := reg.Workers(actions.WorkerContext{Channels: map[string]actions.Channel{"hook": hook}})
	if err != nil {
		return 0, err
	}
	d := dispatch.New(db, workers, dispatch.Options{})
	start := time.Now()
	n, err := d.Drain(ctx)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if n != jobs {
		return 0, fmt.Errorf("delivered %d, want %d", n, jobs)
	}
	return float64(n) / took.Seconds(), nil
}

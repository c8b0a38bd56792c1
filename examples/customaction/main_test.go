package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The custom koi, built and run as a user would: its playbooks may use
// award_points, koi run awards the points through the configured points
// system, and koi check reports a bad award_points with its line.
func TestCustomKoiAwardsPoints(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "custom-koi")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	var mu sync.Mutex
	awards := map[string]string{} // idempotency key → path
	points := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pts-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		awards[r.Header.Get("Idempotency-Key")] = r.URL.Path
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer points.Close()

	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("koi.yaml", fmt.Sprintf("channels:\n  points: { type: loyalty, base_url: %q, token_env: PTS_TOKEN }\n", points.URL))
	write("pb/birthday.yaml", `name: birthday
limits: { max_fires: 100% }
rules:
  - id: gift
    when: member
    once: true
    actions:
      - award_points: { points: 200, reason: 生日礼, via: points }
      - message: { channel: log, template: "送您{{.award_points.points}}积分" }
`)
	koi := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, append([]string{"--db", filepath.Join(dir, "koi.db"), "--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "PTS_TOKEN=pts-token")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if out, errs, code := koi("demo", "--customers", "40", "--seed", "2"); code != 0 {
		t.Fatalf("demo: %d %s %s", code, out, errs)
	}
	out, errs, code := koi("run", "--playbooks", filepath.Join(dir, "pb"))
	if code != 0 {
		t.Fatalf("run: %d\n%s%s", code, out, errs)
	}
	jobs, _, _ := koi("jobs", "--kind", "award_points", "--state", "done", "--limit", "1000")
	done := strings.Count(jobs, "award_points")
	mu.Lock()
	n := len(awards)
	mu.Unlock()
	if n == 0 || n != done || !strings.Contains(errs, "送您200积分") {
		t.Fatalf("points system got %d awards, koi jobs shows %d done; run said:\n%s%s", n, done, out, errs)
	}

	// A mistake in the plugin's parameters is a load error with its place.
	write("bad/bad.yaml", "name: bad\nrules:\n  - id: r\n    when: member\n    once: true\n    actions:\n      - award_points: { points: -1, reason: x, via: crm }\n")
	out, _, code = koi("check", filepath.Join(dir, "bad"))
	if code == 0 || !strings.Contains(out, "bad.yaml:7:33: rule r: award_points: points: want 1 to 100000 points, got -1") ||
		!strings.Contains(out, `bad.yaml:7:53: rule r: award_points: via: unknown channel "crm" (configured: log, points)`) {
		t.Errorf("check: exit %d\n%s", code, out)
	}
}

package cli

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// koi serve --demo, as a real process: it seeds the pond, prints an admin
// key and its address, takes events over HTTP with that key (and refuses
// them without), and stops cleanly on SIGTERM, leaving the pond image the
// next process reads its pond from.
func TestServeDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "koi.db")
	cmd := exec.Command(koiBin, "serve", "--demo", "--listen", "127.0.0.1:0", "--db", db)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "TZ=UTC")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var key, base string
	lines := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	for base == "" && lines.Scan() {
		l := lines.Text()
		if k, ok := strings.CutPrefix(l, "demo admin key (valid until koi stops): "); ok {
			key = k
		}
		if rest, ok := strings.CutPrefix(l, "koi serving http://"); ok {
			base = "http://" + strings.Fields(rest)[0]
		}
	}
	deadline.Stop()
	if key == "" || base == "" {
		t.Fatalf("no key or address printed; stderr: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	post := func(auth string) int {
		req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(
			`{"id": "serve-1", "customer_id": "c0000001", "type": "visit", "at": "2026-05-01T10:00:00Z"}`))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(""); st != 401 {
		t.Fatalf("without a key: %d", st)
	}
	if st := post(key); st != 201 {
		t.Fatalf("with the demo key: %d; stderr: %s", st, stderr.String())
	}
	if st := post(key); st != 200 {
		t.Fatalf("sent again: %d", st)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("koi serve did not stop on SIGTERM")
	}
	if n := query(t, db, `SELECT count(*) FROM events WHERE id = 'serve-1'`); n != 1 {
		t.Fatalf("%d stored events serve-1", n)
	}

	// The pond image: a later process reads the same pond from it as
	// from the tables (the event served above included).
	if _, err := os.Stat(db + ".pond"); err != nil {
		t.Fatalf("no pond image after a clean stop: %v; stderr: %s", err, stderr.String())
	}
	export := []string{"--db", db, "export", "--at", "2026-05-02T00:00:00Z", "--format", "csv"}
	fromImage := mustKoi(t, export...)
	if _, err := os.Stat(db + ".pond"); err != nil {
		t.Fatalf("a current pond image was removed by reading it: %v", err)
	}
	if err := os.Remove(db + ".pond"); err != nil {
		t.Fatal(err)
	}
	if fromTables := mustKoi(t, export...); fromTables.stdout != fromImage.stdout || !strings.Contains(fromImage.stdout, "c0000001") {
		t.Fatalf("export from the pond image differs from the tables' (%d and %d bytes)", len(fromImage.stdout), len(fromTables.stdout))
	}
}

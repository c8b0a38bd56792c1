package cli

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	var consoleLine string
	if lines.Scan() {
		consoleLine = lines.Text()
	}
	deadline.Stop()
	if key == "" || base == "" {
		t.Fatalf("no key or address printed; stderr: %s", stderr.String())
	}
	root := strings.TrimSuffix(base, "/api/v1")
	if want := "console: " + root + "/ (sign in with a marketer or admin key: the demo admin key above)"; consoleLine != want {
		t.Errorf("console line %q, want %q", consoleLine, want)
	}
	go io.Copy(io.Discard, stdout)
	signInToConsole(t, root, key)

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

// signInToConsole signs in to the console at base with key, as a browser
// would, and checks that the pond page answers.
func signInToConsole(t *testing.T, base, key string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	read := func(res *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}
	if res, _ := read(c.Get(base + "/")); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin" {
		t.Fatalf("the console, signed out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, form := read(c.Get(base + "/signin"))
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no sign-in form:\n%s", form)
	}
	if res, page := read(c.PostForm(base+"/signin", url.Values{"csrf": {m[1]}, "key": {key}})); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in with the demo key: %d\n%s", res.StatusCode, page)
	}
	if res, page := read(c.Get(base + "/")); res.StatusCode != http.StatusOK || !strings.Contains(page, "五层关系") {
		t.Fatalf("the pond page: %d\n%s", res.StatusCode, page)
	}
}

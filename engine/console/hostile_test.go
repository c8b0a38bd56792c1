package console_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// /lang/{lang}?back= must not send the browser to another site:
// browsers strip tabs from URLs, so "/\t/evil.example" would become
// "//evil.example".
func TestReviewLangBackTabOpenRedirect(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.srv.URL+"/lang/en?back="+url.QueryEscape("/\t/evil.example/x"), nil)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if browser := strings.ReplaceAll(loc, "\t", ""); strings.HasPrefix(browser, "//") {
		t.Errorf("GET /lang/en?back=%%2F%%09%%2Fevil.example%%2Fx: %d Location %q, which a browser reads as %q: another site", res.StatusCode, loc, browser)
	}
}

var nextLink = regexp.MustCompile(`href="(/customers\?[^"]*)" id="next"`)

// The customers page's "next" link must open the next page of the same
// search.
func TestReviewCustomersNextLinkWorks(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, marketerSecret)
	_, page := f.get(c, "/customers?tier=normal")
	m := nextLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no next link")
	}
	href := strings.ReplaceAll(m[1], "&amp;", "&")
	t.Logf("next link: %s", href)
	res, page2 := f.get(c, href)
	first := customerRow.FindAllStringSubmatch(page, -1)
	second := customerRow.FindAllStringSubmatch(page2, -1)
	if res.StatusCode != http.StatusOK || len(second) == 0 || second[0][1] == first[0][1] {
		t.Errorf("following next (%s): %d, %d customers; first of page 2 %v, of page 1 %v", href, res.StatusCode, len(second), second, first[0][1])
	}
}

// ?from= must open nothing outside the playbooks directory: a FIFO
// outside it would show the open (and /dev/zero would be read until
// memory ran out).
func TestReviewEditorFromReadsOutsideDir(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, marketerSecret)
	outside := t.TempDir()
	fifo := filepath.Join(outside, "p.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(f.dir, fifo)
	done := make(chan int, 1)
	go func() {
		res, err := c.Get(f.srv.URL + "/editor?from=" + url.QueryEscape(rel))
		if err != nil {
			done <- -1
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	// A writer opens a FIFO without blocking only when a reader has it open.
	var opened bool
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			opened = true
			w.Write([]byte("name: leaked\n"))
			w.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	status := <-done
	if opened {
		t.Errorf("GET /editor?from=%s opened %s, outside the playbooks directory %s (answer %d)", rel, fifo, f.dir, status)
	}
}

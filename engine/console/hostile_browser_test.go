package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// In Chromium, the language link's back parameter must not send the
// browser to another origin (a tab in the path, which browsers drop).
func TestReviewLangBackOpenRedirectInBrowser(t *testing.T) {
	exe := browserPath(t)
	f := newFixture(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<h1>evil</h1>")) }))
	defer evil.Close()
	ctx := newBrowser(t, exe, 30*time.Second)
	host := strings.TrimPrefix(evil.URL, "http://")
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/lang/en?back=/%09/"+host+"/landed")); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(loc, evil.URL) {
		t.Errorf("the console at %s sent the browser to %s", f.srv.URL, loc)
	}
}

package console_test

import (
	"context"
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
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("headless", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTime := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTime()
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

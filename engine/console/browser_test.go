package console_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds Chromium. Without one the browser test is skipped on
// a developer's machine; CI installs Debian's chromium and sets
// KOI_REQUIRE_BROWSER, so there a missing browser fails the test.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("KOI_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KOI_REQUIRE_BROWSER") != "" {
		t.Fatal("KOI_REQUIRE_BROWSER is set and no Chromium was found (apt-get install chromium)")
	}
	t.Skip("no Chromium on this machine (apt-get install chromium, or set KOI_CHROMIUM)")
	return ""
}

// The console in a real browser: sign in, every page, approving a held
// run, an edit whose error the page's script marks at its line as one
// types, the fix, a preview, a save, and English.
func TestInABrowser(t *testing.T) {
	exe := browserPath(t)
	f := newFixture(t)
	f.now = time.Now() // the browser's cookie jar lives on the real clock
	ctx := newBrowser(t, exe, time.Minute)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	read := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	base := f.srv.URL
	heading := func(what string) string { return read(what, chromedp.Text(chromedp.CSS("h1"))) }
	run("sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), marketerSecret),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("asof")))
	if h := heading("the pond"); h != "鱼塘" {
		t.Errorf("after signing in the page is %q", h)
	}
	for path, want := range map[string]string{
		"/playbooks": "剧本", "/runs": "运行", "/runs/1": "运行 #1 · recall", "/customers?tier=vip": "客户",
		"/customers/c0000003": "c0000003", "/guides": "导购", "/outbox": "发件箱", "/editor?file=recall.yaml": "编辑 recall.yaml",
		"/playbooks/recall/report": "recall 的效果报表",
	} {
		run("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("h1")))
		if h := heading(path); !strings.HasPrefix(h, want) {
			t.Errorf("%s: heading %q, want %q", path, h, want)
		}
	}

	run("approve the held run",
		chromedp.Navigate(base+"/runs/1"),
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("decided")))
	if st := read("the status", chromedp.Text(chromedp.ID("status"))); st != "完成" {
		t.Errorf("the approved run is %q", st)
	}

	// An edit with a mistake on line 5: the script validates as one types
	// and marks the line.
	run("open the editor", chromedp.Navigate(base+"/editor?file=recall.yaml"), chromedp.WaitVisible(chromedp.ID("source")))
	source := read("the source", chromedp.Value(chromedp.ID("source")))
	broken := strings.Replace(source, "recency_days > 60", "recency_days >", 1)
	run("type a mistake",
		chromedp.SetValue(chromedp.ID("source"), broken),
		chromedp.SendKeys(chromedp.ID("source"), " "), // an input event, as typing makes
		chromedp.WaitVisible(chromedp.CSS(`#errors li[data-line="5"]`)),
		chromedp.WaitVisible(chromedp.CSS("#gutter span.err")))
	if line := read("the margin", chromedp.Text(chromedp.CSS("#gutter span.err"))); line != "5" {
		t.Errorf("the margin marks line %q, want 5", line)
	}
	edited := source + "  - id: big\n    when: orders >= 2\n    once: true\n    actions:\n      - tag: { add: [big] }\n"
	run("fix it and preview",
		chromedp.SetValue(chromedp.ID("source"), edited),
		chromedp.SendKeys(chromedp.ID("source"), "\n"),
		chromedp.WaitNotPresent(chromedp.CSS("#errors li")),
		chromedp.Click(chromedp.CSS(`button[value="preview"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#preview tr[data-rule="big"]`)))
	run("save", chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("notice")))
	if pb, ok := f.e.Playbook("recall"); !ok || len(pb.Rules) != 3 {
		t.Errorf("after saving in the browser the playbook has %d rules", len(pb.Rules))
	}

	run("switch to English", chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := heading("in English"); !strings.HasPrefix(h, "Editing recall.yaml") {
		t.Errorf("in English the editor's heading is %q", h)
	}
}

// newBrowser starts a headless Chromium for the test, its own profile in
// a temporary directory, and returns a context of it that ends after
// limit (or with the test).
func newBrowser(t *testing.T, exe string, limit time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("headless", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelTime(); cancel(); cancelAlloc() })
	return ctx
}

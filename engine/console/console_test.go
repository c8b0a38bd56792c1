package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/builtin"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/apikey"
	"github.com/koihq/koi/engine/console"
	"github.com/koihq/koi/engine/demo"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/profile"
	"github.com/koihq/koi/engine/sqlite"
	"github.com/koihq/koi/rules"
)

var anchor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const (
	adminSecret    = "admin-secret-0123456789"
	marketerSecret = "marketer-secret-0123456789"
	ingestSecret   = "ingest-secret-0123456789"
)

// fixture is a console on loopback over a real engine and database with
// a small demo pond, a playbook that loads and one that does not.
type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	e      *engine.Engine
	db     *sqlite.DB
	dir    string
	now    time.Time
	nudged int
	// testRuns are the editor's test runs: test file, playbook file, text.
	testRuns [][3]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "koi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gen := demo.Generator{Seed: 1, Anchor: anchor}
	var cs []domain.Customer
	var evs []domain.Event
	for i := 0; i < 300; i++ {
		c, e := gen.Customer(i)
		cs, evs = append(cs, c), append(evs, e...)
	}
	if err := db.UpsertCustomers(ctx, cs, anchor); err != nil {
		t.Fatal(err)
	}
	if _, bad, err := db.InsertEvents(ctx, evs); err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("recall.yaml", "name: recall\nschedule: \"0 10 * * *\"\nrules:\n  - id: lapsed\n    when: recency_days > 60\n    cooldown: 30d\n    actions:\n      - tag: { add: [lapsed] }\n  - id: vip\n    when: tier == \"vip\"\n    once: true\n    actions:\n      - tag: { add: [vip] }\n")
	write("welcome.yaml", "name: welcome\nrules:\n  - id: hello\n    when: \"true\"\n    once: true\n    actions:\n      - tag: { add: [welcomed] }\n")
	write("sop.yaml", "name: sop\nschedule: \"0 10 * * *\"\nholdout: 0%\nlimits: { max_fires: 100% }\njourney:\n  enter: { when: \"true\" }\n  exit_when: orders_since_entry > 0\n  steps:\n    - id: hello\n      after: 0m\n      actions: [{ tag: { add: [sop] } }]\n    - id: later\n      after: 24h\n      when: count_since_entry(\"visit\") == 0\n      actions: [{ tag: { add: [sop-later] } }]\n")
	write("broken.yaml", "name: broken\nrules:\n  - id: r\n    when: recency_days >\n    once: true\n    actions:\n      - tag: { add: [x] }\n")
	e := engine.New(db, builtin.Registry(), engine.Config{Tiers: []string{"normal", "silver", "gold", "vip"}})
	if err := e.Load(dir); err == nil || !strings.Contains(err.Error(), "broken.yaml") || strings.Contains(err.Error(), "recall.yaml") {
		t.Fatalf("loading: %v; want broken.yaml alone to fail", err)
	}
	if _, err := e.Run(ctx, engine.RunRequest{At: anchor, Playbooks: []string{"recall"}}); err != nil {
		t.Fatal(err)
	}

	f := &fixture{t: t, e: e, now: anchor.Add(time.Hour)}
	var keys []apikey.Key
	for _, k := range []struct {
		name, secret string
		role         apikey.Role
	}{{"ada", adminSecret, apikey.RoleAdmin}, {"mia", marketerSecret, apikey.RoleMarketer}, {"ivan", ingestSecret, apikey.RoleIngest}} {
		sum, err := apikey.ParseKeyHash(apikey.HashKey(k.secret))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, apikey.Key{Name: k.name, Role: k.role, SHA256: sum})
	}
	f.db = db
	f.srv = httptest.NewServer(console.New(e, console.Config{Keys: keys, Now: func() time.Time { return f.now },
		NextRun: func(string) (time.Time, bool) { return anchor.Add(34 * time.Hour), true },
		Jobs:    db, JobsChanged: func() { f.nudged++ }, Tasks: db,
		Guides:       []actions.Guide{{ID: "g01", Name: "小王", Capacity: 2}, {ID: "g02", Name: "小李"}},
		PlaybooksDir: dir, Reload: func(context.Context) (engine.ReloadResult, error) { return e.Reload(dir) },
		RunTest: func(_ context.Context, testFile, playbookFile string, source []byte) ([]console.TestCaseResult, error) {
			f.testRuns = append(f.testRuns, [3]string{testFile, playbookFile, string(source)})
			if strings.Contains(string(source), "id: big") {
				return []console.TestCaseResult{{Case: "lapsed customers", Passed: true}, {Case: "big spenders", Failures: []string{"want big fired, got nothing"}}}, nil
			}
			return []console.TestCaseResult{{Case: "lapsed customers", Passed: true}}, nil
		}}))
	f.dir = dir
	t.Cleanup(f.srv.Close)
	return f
}

// client is a browser: it keeps cookies and does not follow redirects.
func (f *fixture) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches path and returns the answer with its body read.
func (f *fixture) get(c *http.Client, path string) (*http.Response, string) {
	f.t.Helper()
	res, err := c.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	return res, body(f.t, res)
}

func (f *fixture) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	res, err := c.PostForm(f.srv.URL+path, form)
	if err != nil {
		f.t.Fatal(err)
	}
	return res, body(f.t, res)
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in\n%s", page)
	}
	return m[1]
}

// signIn signs c in with secret and returns the sign-in's answer.
func (f *fixture) signIn(c *http.Client, secret string) (*http.Response, string) {
	f.t.Helper()
	_, page := f.get(c, "/signin")
	return f.post(c, "/signin", url.Values{"csrf": {csrf(f.t, page)}, "key": {secret}})
}

func cookie(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	if res, _ := f.get(c, "/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin" {
		t.Fatalf("signed out, / answered %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, page := f.get(c, "/signin")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "登录") {
		t.Fatalf("sign-in page: %d\n%s", res.StatusCode, page)
	}
	for _, tc := range []struct {
		secret string
		status int
		says   string
	}{
		{"not-a-key", http.StatusUnauthorized, "密钥无效"},
		{ingestSecret, http.StatusForbidden, "写入(ingest)密钥不能登录控制台"},
	} {
		res, page := f.signIn(c, tc.secret)
		if res.StatusCode != tc.status || !strings.Contains(page, tc.says) || cookie(res, "koi_session") != nil {
			t.Errorf("key %q: %d, session cookie %v\n%s", tc.secret, res.StatusCode, cookie(res, "koi_session"), page)
		}
	}
	// A form posted without the sign-in cookie (from another site).
	res, page = f.post(f.client(), "/signin", url.Values{"csrf": {csrf(t, page)}, "key": {marketerSecret}})
	if res.StatusCode != http.StatusForbidden || cookie(res, "koi_session") != nil {
		t.Errorf("sign-in without its cookie: %d\n%s", res.StatusCode, page)
	}
	res, _ = f.signIn(c, marketerSecret)
	sc := cookie(res, "koi_session")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" || sc == nil {
		t.Fatalf("marketer sign-in: %d to %q, cookie %v", res.StatusCode, res.Header.Get("Location"), sc)
	}
	if !sc.HttpOnly || sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.MaxAge != 12*3600 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, expiring in 12 h", sc)
	}
	res, page = f.get(c, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "已登录:mia(营销)") {
		t.Errorf("signed in, / answered %d\n%s", res.StatusCode, page)
	}
	// The admin key signs in too.
	if res, _ := f.signIn(f.client(), adminSecret); res.StatusCode != http.StatusSeeOther {
		t.Errorf("admin sign-in: %d", res.StatusCode)
	}
	// Twelve hours later the session is over.
	f.now = f.now.Add(12 * time.Hour)
	if res, _ := f.get(c, "/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("an expired session was served: %d", res.StatusCode)
	}
}

func TestSignOutNeedsTheFormToken(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, marketerSecret)
	_, page := f.get(c, "/")
	if res, _ := f.post(c, "/signout", url.Values{"csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out with a forged token: %d", res.StatusCode)
	}
	if res, _ := f.get(c, "/"); res.StatusCode != http.StatusOK {
		t.Fatalf("the forged sign-out ended the session: %d", res.StatusCode)
	}
	if res, _ := f.post(c, "/signout", url.Values{"csrf": {csrf(t, page)}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d", res.StatusCode)
	}
	if res, _ := f.get(c, "/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out / answered %d", res.StatusCode)
	}
}

var (
	layerAttr = regexp.MustCompile(`data-stage="(\w+)" data-customers="(\d+)"`)
	factorRow = regexp.MustCompile(`data-factor="([\w.]+)"><td>[^<]*</td><td class="n">([^<]*)</td>`)
)

// The pond page shows the engine's summary: every layer's count, every
// segment, every GMV factor of the window asked for.
func TestPondPage(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, marketerSecret)
	for _, days := range []int{30, 90, 365} {
		res, page := f.get(c, "/?window="+strconv.Itoa(days))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("window %d: %d\n%s", days, res.StatusCode, page)
		}
		want, err := f.e.PondSummary(context.Background(), f.now, days)
		if err != nil {
			t.Fatal(err)
		}
		layers := layerAttr.FindAllStringSubmatch(page, -1)
		if len(layers) != len(want.Layers) {
			t.Fatalf("%d layers drawn, want %d", len(layers), len(want.Layers))
		}
		for i, l := range want.Layers {
			if layers[i][1] != l.Stage || layers[i][2] != strconv.Itoa(l.Customers) {
				t.Errorf("layer %d drawn as %s %s, want %s %d", i, layers[i][1], layers[i][2], l.Stage, l.Customers)
			}
		}
		if n := strings.Count(page, "data-segment="); n != 9 {
			t.Errorf("%d segment rows, want 9", n)
		}
		factors := map[string]string{}
		for _, m := range factorRow.FindAllStringSubmatch(page, -1) {
			factors[m[1]] = m[2]
		}
		if got, wantActive := factors["gmv.active"], strconv.Itoa(want.Current.Active); got != wantActive || len(factors) != 9 {
			t.Errorf("window %d: factors %v; want 9, active %s", days, factors, wantActive)
		}
	}
	if res, _ := f.get(c, "/?window=7"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a 7-day window: %d", res.StatusCode)
	}
}

func TestPlaybooksPage(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, marketerSecret)
	res, page := f.get(c, "/playbooks")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d\n%s", res.StatusCode, page)
	}
	for _, want := range []string{
		`data-file="recall.yaml"`, "运行中", "2 条规则", "<code>0 10 * * *</code>", "下次运行:2026-11-02 10:00",
		`data-file="broken.yaml"`, "有 1 个错误", "broken.yaml:4:",
		"#1 待审批", `<table class="last" data-run="1">`, `<tr data-rule="lapsed"><td>lapsed</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the playbooks page lacks %q\n%s", want, page)
		}
	}
}

// Every text exists in both languages, and no page shows a missing one.
func TestBothLanguagesAreComplete(t *testing.T) {
	zh, en := console.Messages("zh"), console.Messages("en")
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%s has no English", k)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%s has no Chinese", k)
		}
	}
	f := newFixture(t)
	c := f.client()
	_, signin := f.get(c, "/signin")
	f.signIn(c, adminSecret)
	pages := map[string]string{"zh /signin": signin}
	for _, lang := range []string{"en", "zh"} {
		if lang == "en" {
			res, _ := f.get(c, "/lang/en?back=/playbooks")
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/playbooks" {
				t.Fatalf("switching to English: %d to %q", res.StatusCode, res.Header.Get("Location"))
			}
		} else {
			f.get(c, "/lang/zh?back=/")
		}
		for _, p := range []string{"/", "/playbooks", "/runs", "/runs/1", "/customers?tier=vip", "/customers/c0000003?explain=recall/lapsed", "/customers/c0000003?explain=sop/later", "/guides", "/outbox", "/editor", "/editor?file=recall.yaml", "/playbooks/recall/report", "/nowhere"} {
			_, pages[lang+" "+p] = f.get(c, p)
		}
	}
	for name, page := range pages {
		if strings.Contains(page, "⟦missing:") {
			t.Errorf("%s shows a missing text:\n%s", name, page)
		}
	}
	if !strings.Contains(pages["en /"], "Relationship layers") || !strings.Contains(pages["zh /"], "五层关系") {
		t.Error("the pond page is not in the language chosen")
	}
}

// The language switch goes back only to a page of the console.
func TestLanguageSwitchStaysHere(t *testing.T) {
	f := newFixture(t)
	for _, back := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "relative"} {
		res, _ := f.get(f.client(), "/lang/en?back="+url.QueryEscape(back))
		if loc := res.Header.Get("Location"); loc != "/" {
			t.Errorf("back=%q sent the browser to %q", back, loc)
		}
	}
	if res, _ := f.get(f.client(), "/lang/fr"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown language: %d", res.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	res, _ := f.get(f.client(), "/signin")
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %q", h, got)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// Sign-in attempts are limited, all callers together.
func TestSignInAttemptsAreLimited(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	_, page := f.get(c, "/signin")
	token := csrf(t, page)
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		res, _ := f.post(c, "/signin", url.Values{"csrf": {token}, "key": {"wrong"}})
		limited = res.StatusCode == http.StatusTooManyRequests
		if c := cookie(res, "koi_signin"); c != nil {
			token = c.Value
		}
	}
	if !limited {
		t.Error("40 wrong keys in a row were all tried")
	}
}

var (
	runRow     = regexp.MustCompile(`data-run="(\d+)" data-status="(\w+)"`)
	sampleRows = regexp.MustCompile(`<tr data-customer="`)
)

// A held run is approved or rejected from its page, in the signed-in
// key's name, with the form's token; what it would fire shows first.
func TestHeldRunsAreDecidedOnTheirPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client()
	f.signIn(c, marketerSecret)
	_, page := f.get(c, "/runs")
	if m := runRow.FindAllStringSubmatch(page, -1); len(m) != 1 || m[0][1] != "1" || m[0][2] != "held" {
		t.Fatalf("runs page rows %v, want run 1 held\n%s", m, page)
	}
	if res, _ := f.get(c, "/runs?status=nonsense"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown status: %d", res.StatusCode)
	}
	if _, page := f.get(c, "/runs?status=done"); runRow.MatchString(page) {
		t.Error("the done filter lists the held run")
	}
	res, page := f.get(c, "/runs/1")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `id="approve"`) || !strings.Contains(page, `id="reject"`) {
		t.Fatalf("held run page: %d\n%s", res.StatusCode, page)
	}
	if n := len(sampleRows.FindAllString(page, -1)); n == 0 || n > 20 {
		t.Errorf("%d sample rows, want 1 to 20", n)
	}
	if res, _ := f.post(c, "/runs/1/approve", url.Values{"csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("approving with a forged token: %d", res.StatusCode)
	}
	if run, _ := f.e.GetRun(ctx, 1); run.Status != engine.RunHeld {
		t.Fatalf("after a forged approval the run is %s", run.Status)
	}
	res, _ = f.post(c, "/runs/1/approve", url.Values{"csrf": {csrf(t, page)}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/runs/1" {
		t.Fatalf("approving: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	run, err := f.e.GetRun(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	fires, err := f.e.ListFires(ctx, domain.FireFilter{RunID: 1, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != engine.RunDone || run.DecidedBy != "mia" || run.Fired == 0 || len(fires) != run.Fired {
		t.Errorf("approved run: %s by %q, %d fired, %d fires stored", run.Status, run.DecidedBy, run.Fired, len(fires))
	}
	_, page = f.get(c, "/runs/1")
	if !strings.Contains(page, "由 mia 决定") || strings.Contains(page, `id="approve"`) {
		t.Errorf("the approved run's page:\n%s", page)
	}
	// Approving it again is refused, on the run's page.
	res, page = f.post(c, "/runs/1/approve", url.Values{"csrf": {csrf(t, page)}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, "only a held run can be approved") {
		t.Errorf("approving a done run: %d\n%s", res.StatusCode, page)
	}

	// Another held run, rejected by the admin.
	runs, err := f.e.Run(ctx, engine.RunRequest{At: anchor, Playbooks: []string{"welcome"}})
	if err != nil || runs[0].Status != engine.RunHeld {
		t.Fatalf("welcome: %v, %v", runs, err)
	}
	id := strconv.FormatInt(runs[0].ID, 10)
	admin := f.client()
	f.signIn(admin, adminSecret)
	_, page = f.get(admin, "/runs/"+id)
	if res, _ := f.post(admin, "/runs/"+id+"/reject", url.Values{"csrf": {csrf(t, page)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rejecting: %d", res.StatusCode)
	}
	run, _ = f.e.GetRun(ctx, runs[0].ID)
	fires, _ = f.e.ListFires(ctx, domain.FireFilter{RunID: runs[0].ID, Limit: 10})
	if run.Status != engine.RunRejected || run.DecidedBy != "ada" || len(fires) != 0 {
		t.Errorf("rejected run: %s by %q, %d fires", run.Status, run.DecidedBy, len(fires))
	}
	if res, _ := f.get(admin, "/runs/999"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown run: %d", res.StatusCode)
	}
}

var customerRow = regexp.MustCompile(`<tr data-customer="([^"]+)"><td><a href`)

// Customers are found by segment, tier, tag, name and an expression, a
// page at a time; a customer's page shows what the engine knows of them
// and explains any rule for them.
func TestCustomers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client()
	f.signIn(c, marketerSecret)
	if res, page := f.get(c, "/customers"); res.StatusCode != http.StatusOK || strings.Contains(page, `id="customers"`) {
		t.Fatalf("the empty search page: %d", res.StatusCode)
	}
	want := func(q engine.CustomerQuery) []string {
		t.Helper()
		q.Limit = 1000
		page, err := f.e.FindCustomers(ctx, f.now, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range page.Customers {
			ids = append(ids, c["id"].(string))
		}
		return ids
	}
	got := func(query string) []string {
		t.Helper()
		res, page := f.get(c, "/customers?"+query)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d\n%s", query, res.StatusCode, page)
		}
		var ids []string
		for _, m := range customerRow.FindAllStringSubmatch(page, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	for query, q := range map[string]engine.CustomerQuery{
		"segment=important_value": {Segment: "important_value"},
		"tier=vip":                {Tier: "vip"},
		"lifecycle=repeat&tag=" + url.QueryEscape("直播间"):         {Lifecycle: "repeat", Tag: "直播间"},
		"where=" + url.QueryEscape("orders >= 3 && spend > 500"): {Where: mustCompile(t, "orders >= 3 && spend > 500")},
		"q=c0000007": {Text: "c0000007"},
	} {
		w := want(q)
		if len(w) > 50 {
			w = w[:50]
		}
		if g := got(query); strings.Join(g, ",") != strings.Join(w, ",") || len(g) == 0 {
			t.Errorf("%s: the page lists %v, want %v", query, g, w)
		}
	}
	// A name finds its customers.
	cust, err := f.e.Customer(ctx, "c0000003")
	if err != nil {
		t.Fatal(err)
	}
	if g := got("q=" + url.QueryEscape(cust.Name)); !strings.Contains(strings.Join(g, ","), "c0000003") {
		t.Errorf("searching the name %q found %v", cust.Name, g)
	}
	// The first page of everyone has 50 and a link on.
	_, page := f.get(c, "/customers?tier=normal")
	if n := len(customerRow.FindAllString(page, -1)); n != 50 || !strings.Contains(page, `id="next"`) {
		t.Errorf("a page of normal customers holds %d and next is %v", n, strings.Contains(page, `id="next"`))
	}
	for _, bad := range []string{"where=" + url.QueryEscape("orders >"), "where=" + url.QueryEscape(`attrs.city + 1 > 0`)} {
		if res, page := f.get(c, "/customers?"+bad); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "条件表达式有误") {
			t.Errorf("%s: %d\n%s", bad, res.StatusCode, page)
		}
	}

	// A customer's page, and why a rule does or does not fire for them.
	res, page := f.get(c, "/customers/c0000003")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-name="recency_days"`) || !strings.Contains(page, `id="events"`) {
		t.Fatalf("customer page: %d\n%s", res.StatusCode, page)
	}
	x, err := f.e.Explain(ctx, engine.ExplainRequest{Playbook: "recall", Rule: "lapsed", CustomerID: "c0000003", At: f.now})
	if err != nil {
		t.Fatal(err)
	}
	_, page = f.get(c, "/customers/c0000003?explain=recall/lapsed")
	if !strings.Contains(page, `data-verdict="`+x.Verdict+`"`) || !strings.Contains(page, "<code>recency_days &gt; 60</code>") {
		t.Errorf("explain: want verdict %s\n%s", x.Verdict, page)
	}
	if res, _ := f.get(c, "/customers/c0000003?explain=recall/nothing"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("explaining an unknown rule: %d", res.StatusCode)
	}
	if res, _ := f.get(c, "/customers/nobody"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown customer: %d", res.StatusCode)
	}
}

func mustCompile(t *testing.T, src string) *rules.Condition {
	t.Helper()
	c, err := rules.CompileExpr(src, profile.ExprEnv())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The guides page shows each guide's open tasks against capacity, and a
// task is marked done from it; the outbox page counts jobs by state,
// lists a state's jobs, and retries a dead one (nudging the dispatcher)
// or cancels a pending one.
func TestGuidesAndOutbox(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.db.WriteFires(ctx, anchor, func(tx engine.FireTx) error {
		fx := &domain.BatchEffects{Tags: map[string][]string{}, Tiers: map[string]string{}, Guides: map[string]string{}}
		for i := 0; i < 3; i++ {
			cust := fmt.Sprintf("c%07d", i)
			fx.Tasks = append(fx.Tasks, domain.NewTask{Key: "t" + cust, Guide: "g01", CustomerID: cust, Playbook: "p", Rule: "r", Note: "回访 " + cust, DueAt: anchor.Add(24 * time.Hour)})
			fx.Jobs = append(fx.Jobs, domain.NewJob{Key: "j" + cust, Kind: "webhook", Channel: "hook", Playbook: "p", Rule: "r", CustomerID: cust, Payload: []byte("{}"), MaxAttempts: 3})
		}
		return tx.ApplyEffects(fx)
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := f.db.ListJobs(ctx, domain.JobFilter{Limit: 10})
	if err != nil || len(jobs) != 3 {
		t.Fatal(jobs, err)
	}
	dead := jobs[0].ID
	if err := f.db.FinishJobs(ctx, anchor, []domain.JobOutcome{{ID: dead, State: domain.JobDead, Attempts: 3, LastError: "receiver said 500"}}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	f.signIn(c, marketerSecret)

	_, page := f.get(c, "/guides")
	if !strings.Contains(page, `data-guide="g01" data-open="3"`) || !strings.Contains(page, "未完成任务 3 / 容量 2") || !strings.Contains(page, `class="over"`) || !strings.Contains(page, `data-guide="g02" data-open="0"`) {
		t.Fatalf("guides page:\n%s", page)
	}
	task := regexp.MustCompile(`action="/guides/g01/tasks/(\d+)/done"`).FindStringSubmatch(page)
	if res, _ := f.post(c, "/guides/g01/tasks/"+task[1]+"/done", url.Values{"csrf": {csrf(t, page)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("completing a task: %d", res.StatusCode)
	}
	if _, page := f.get(c, "/guides"); !strings.Contains(page, `data-guide="g01" data-open="2"`) {
		t.Errorf("after completing one, the guides page:\n%s", page)
	}

	_, page = f.get(c, "/outbox")
	if !strings.Contains(page, `data-state="dead" data-count="1"`) || !strings.Contains(page, `data-state="pending" data-count="2"`) ||
		!strings.Contains(page, `data-job="`+strconv.FormatInt(dead, 10)+`"`) || !strings.Contains(page, "receiver said 500") {
		t.Fatalf("outbox page (dead by default):\n%s", page)
	}
	if res, _ := f.get(c, "/outbox?state=bogus"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown state: %d", res.StatusCode)
	}
	id := strconv.FormatInt(dead, 10)
	if res, _ := f.post(c, "/outbox/"+id+"/retry", url.Values{"csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a forged retry: %d", res.StatusCode)
	}
	res, _ := f.post(c, "/outbox/"+id+"/retry", url.Values{"csrf": {csrf(t, page)}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/outbox?state=dead" || f.nudged != 1 {
		t.Fatalf("retrying: %d to %q, nudged %d", res.StatusCode, res.Header.Get("Location"), f.nudged)
	}
	if j, _ := f.db.GetJob(ctx, dead); j.State != domain.JobPending || j.Attempts != 0 {
		t.Errorf("the retried job is %s after %d attempts", j.State, j.Attempts)
	}
	_, page = f.get(c, "/outbox?state=pending")
	if !strings.Contains(page, `data-state="pending" data-count="3"`) {
		t.Errorf("the counts after the retry:\n%s", page)
	}
	if res, _ := f.post(c, "/outbox/"+id+"/cancel", url.Values{"csrf": {csrf(t, page)}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("cancelling: %d", res.StatusCode)
	}
	if j, _ := f.db.GetJob(ctx, dead); j.State != domain.JobCancelled {
		t.Errorf("the cancelled job is %s", j.State)
	}
	if res, _ := f.post(c, "/outbox/"+id+"/cancel", url.Values{"csrf": {csrf(t, page)}}); res.StatusCode != http.StatusConflict {
		t.Errorf("cancelling it again: %d", res.StatusCode)
	}
}

// The editor validates as one types (JSON for its script), previews on
// the pond, and saves atomically and reloads; what does not load is
// refused with its errors at their lines, and nothing is written. Each
// save is recorded with who made it.
func TestEditor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client()
	f.signIn(c, marketerSecret)
	path := filepath.Join(f.dir, "recall.yaml")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, page := f.get(c, "/editor?file=recall.yaml")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "recency_days &gt; 60") || !strings.Contains(page, `<span>13</span>`) {
		t.Fatalf("editor: %d\n%s", res.StatusCode, page)
	}
	token := csrf(t, page)
	broken := strings.Replace(string(before), "recency_days > 60", "recency_days >", 1)

	// As one types.
	validate := func(src string) map[string]any {
		t.Helper()
		res, body := f.post(c, "/editor/validate", url.Values{"csrf": {token}, "file": {"recall.yaml"}, "source": {src}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("validate: %d %s", res.StatusCode, body)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err, body)
		}
		return out
	}
	if out := validate(broken); out["valid"] != false || !strings.Contains(fmt.Sprint(out["errors"]), "line:5") {
		t.Errorf("validating the broken text: %v", out)
	}
	if out := validate(string(before)); out["valid"] != true {
		t.Errorf("validating the file as it is: %v", out)
	}
	if res, _ := f.post(c, "/editor/validate", url.Values{"file": {"recall.yaml"}, "source": {broken}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("validating without the token: %d", res.StatusCode)
	}

	// Saving what does not load writes nothing.
	res, page = f.post(c, "/editor", url.Values{"csrf": {token}, "file": {"recall.yaml"}, "source": {broken}, "action": {"save"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `<span class="err">5</span>`) || !strings.Contains(page, `data-line="5"`) {
		t.Errorf("saving the broken text: %d\n%s", res.StatusCode, page)
	}
	if now, _ := os.ReadFile(path); string(now) != string(before) {
		t.Error("a text that does not load was written")
	}

	// A preview of an edit, on the pond, writes nothing either.
	edited := string(before) + "  - id: big\n    when: orders >= 2\n    once: true\n    actions:\n      - tag: { add: [big] }\n"
	res, page = f.post(c, "/editor", url.Values{"csrf": {token}, "file": {"recall.yaml"}, "source": {edited}, "action": {"preview"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `id="preview"`) || !strings.Contains(page, `data-rule="big"`) {
		t.Fatalf("preview: %d\n%s", res.StatusCode, page)
	}
	if pb, _ := f.e.Playbook("recall"); len(pb.Rules) != 2 {
		t.Error("a preview changed the running playbook")
	}

	// Saving a good edit writes it, reloads, and records who.
	res, _ = f.post(c, "/editor", url.Values{"csrf": {token}, "file": {"recall.yaml"}, "source": {edited}, "action": {"save"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/editor?file=recall.yaml&saved=1" {
		t.Fatalf("saving: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if now, _ := os.ReadFile(path); string(now) != edited {
		t.Error("the saved text is not on disk")
	}
	pb, ok := f.e.Playbook("recall")
	if !ok || len(pb.Rules) != 3 {
		t.Fatalf("after the save the running playbook has %d rules", len(pb.Rules))
	}
	saves, err := f.e.PlaybookSaves(ctx, "recall.yaml", 10)
	if err != nil || len(saves) != 1 || saves[0].By != "mia" || saves[0].Hash != pb.Hash {
		t.Errorf("saves %+v, %v; want one by mia of %s", saves, err, pb.Hash)
	}
	if _, page := f.get(c, "/editor?file=recall.yaml&saved=1"); !strings.Contains(page, pb.Hash) || !strings.Contains(page, `id="notice"`) {
		t.Errorf("the saved editor page does not show the save:\n%s", page)
	}

	// New files: from an example, not over one that exists, not under a
	// name another playbook has, not outside the directory.
	_, page = f.get(c, "/editor?from=recall.yaml")
	if !strings.Contains(page, `name="new" value="1"`) || !strings.Contains(page, "id: big") {
		t.Errorf("new from recall.yaml:\n%s", page)
	}
	newOne := strings.Replace(edited, "name: recall", "name: recall-two", 1)
	for _, tc := range []struct {
		file, src, says string
	}{
		{"recall.yaml", newOne, "已存在"},
		{"two.yaml", edited, "已被 recall.yaml 使用"},
		{"../escape.yaml", newOne, "文件名只能是"},
		{"two_test.yaml", newOne, "文件名只能是"},
	} {
		res, page := f.post(c, "/editor", url.Values{"csrf": {token}, "new": {"1"}, "file": {tc.file}, "source": {tc.src}, "action": {"save"}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, tc.says) {
			t.Errorf("new %s: %d, want 422 saying %s", tc.file, res.StatusCode, tc.says)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(f.dir), "escape.yaml")); err == nil {
		t.Error("a file was written outside the playbooks directory")
	}
	res, _ = f.post(c, "/editor", url.Values{"csrf": {token}, "new": {"1"}, "file": {"two.yaml"}, "source": {newOne}, "action": {"save"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving a new playbook: %d", res.StatusCode)
	}
	if _, ok := f.e.Playbook("recall-two"); !ok {
		t.Error("the new playbook does not run")
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".koi-edit-") {
			t.Errorf("a temporary file was left: %s", e.Name())
		}
	}
}

var ciDrawn = regexp.MustCompile(`<svg class="ci" [^>]*data-low="([^"]+)" data-high="([^"]+)" data-uplift="([^"]+)"`)

// The outcome report draws each rule's uplift with its 95% interval, the
// numbers the engine's report gives.
func TestOutcomeReport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(f.dir, "promo.yaml"), []byte("name: promo\nholdout: 50%\nlimits: { max_fires: 100% }\nrules:\n  - id: all\n    when: \"true\"\n    once: true\n    actions:\n      - tag: { add: [promo] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Reload(f.dir); err == nil {
		t.Fatal("broken.yaml loaded")
	}
	runs, err := f.e.Run(ctx, engine.RunRequest{At: anchor, Playbooks: []string{"promo"}})
	if err != nil || runs[0].Status != engine.RunDone {
		t.Fatalf("promo: %v %v", runs, err)
	}
	// Orders after the fires: more of them among the treated.
	fires, err := f.e.ListFires(ctx, domain.FireFilter{Playbook: "promo", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var evs []domain.Event
	treated, held := 0, 0
	for _, fr := range fires {
		n := &held
		if fr.Status == domain.FireFired {
			n = &treated
		}
		if (fr.Status == domain.FireFired && *n < 60) || (fr.Status == domain.FireHoldout && *n < 20) {
			evs = append(evs, domain.Event{ID: "promo-" + fr.CustomerID, CustomerID: fr.CustomerID, Type: domain.EventOrder, At: anchor.Add(48 * time.Hour), AmountFen: 9900})
			*n++
		}
	}
	if _, bad, err := f.db.InsertEvents(ctx, evs); err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	f.now = anchor.Add(10 * 24 * time.Hour)
	reps, err := f.e.Report(ctx, "promo", f.now)
	if err != nil || len(reps) != 1 || reps[0].Uplift == nil {
		t.Fatalf("report: %+v %v", reps, err)
	}
	want := reps[0].Uplift
	c := f.client()
	f.signIn(c, marketerSecret)
	if _, page := f.get(c, "/playbooks"); !strings.Contains(page, `href="/playbooks/promo/report"`) {
		t.Error("the playbooks page does not link the report")
	}
	res, page := f.get(c, "/playbooks/promo/report")
	m := ciDrawn.FindStringSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("report page: %d\n%s", res.StatusCode, page)
	}
	for i, v := range []float64{want.CILow, want.CIHigh, want.Uplift} {
		if got, _ := strconv.ParseFloat(m[i+1], 64); got != v {
			t.Errorf("drawn %v, the report says %v (low, high, uplift: %v)", m[i+1], v, m[1:])
		}
	}
	if !strings.Contains(page, `data-verdict="`+want.Verdict+`"`) {
		t.Errorf("the verdict %q is not shown", want.Verdict)
	}
	if res, _ := f.get(c, "/playbooks/nothing/report"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown playbook's report: %d", res.StatusCode)
	}
}

// A playbook with a test file gets a button that runs the test against
// the text being edited (the server's runner gets that text), and shows
// each case; one without gets none.
func TestEditorRunsTheTest(t *testing.T) {
	f := newFixture(t)
	if err := os.WriteFile(filepath.Join(f.dir, "recall_test.yaml"), []byte("# cases\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	f.signIn(c, marketerSecret)
	if _, page := f.get(c, "/editor?file=welcome.yaml"); strings.Contains(page, `id="test"`) {
		t.Error("a playbook without a test file offers to run one")
	}
	_, page := f.get(c, "/editor?file=recall.yaml")
	if !strings.Contains(page, `id="test"`) {
		t.Fatalf("no test button for recall.yaml:\n%s", page)
	}
	src, _ := os.ReadFile(filepath.Join(f.dir, "recall.yaml"))
	edited := string(src) + "  - id: big\n    when: orders >= 2\n    once: true\n    actions:\n      - tag: { add: [big] }\n"
	res, page := f.post(c, "/editor", url.Values{"csrf": {csrf(t, page)}, "file": {"recall.yaml"}, "source": {edited}, "action": {"test"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-case="big spenders" data-passed="false"`) ||
		!strings.Contains(page, "want big fired, got nothing") || !strings.Contains(page, `data-case="lapsed customers" data-passed="true"`) {
		t.Errorf("test results: %d\n%s", res.StatusCode, page)
	}
	if len(f.testRuns) != 1 || f.testRuns[0] != [3]string{filepath.Join(f.dir, "recall_test.yaml"), "recall.yaml", edited} {
		t.Errorf("the runner got %q", f.testRuns)
	}
	if now, _ := os.ReadFile(filepath.Join(f.dir, "recall.yaml")); string(now) != string(src) {
		t.Error("running the test wrote the file")
	}
}

// A customer's page shows their journeys, and explains a journey's step:
// where they are, exit_when and the step's when with the entry's values;
// the playbooks page says a journey is one, with its steps.
func TestCustomerPageShowsJourneys(t *testing.T) {
	f := newFixture(t)
	if _, err := f.e.Run(context.Background(), engine.RunRequest{At: anchor, Playbooks: []string{"sop"}}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	f.signIn(c, marketerSecret)
	f.get(c, "/lang/en?back=/")
	_, page := f.get(c, "/customers/c0000003")
	if !strings.Contains(page, `<tr data-journey="sop" data-status="entered">`) || !strings.Contains(page, "<td>later</td>") {
		t.Fatalf("the customer page lacks the journey state:\n%s", page)
	}
	_, page = f.get(c, "/customers/c0000003?explain=sop/later")
	if !strings.Contains(page, `data-verdict="waiting"`) || !strings.Contains(page, "Exit condition (exit_when)") || !strings.Contains(page, "orders_since_entry") {
		t.Errorf("explaining a step not due yet:\n%s", page)
	}
	f.now = anchor.Add(25 * time.Hour)
	f.signIn(c, marketerSecret) // a day on: the session has expired
	_, page = f.get(c, "/customers/c0000003?explain=sop/later")
	if !strings.Contains(page, `data-verdict="fires"`) && !strings.Contains(page, `data-verdict="not_matched"`) {
		t.Errorf("explaining a step due:\n%s", page)
	}
	_, page = f.get(c, "/playbooks")
	if !strings.Contains(page, "journey · 2 steps") {
		t.Errorf("the playbooks page does not show the journey:\n%s", page)
	}
}

// A customer's page shows their identities, the ids merged into them and
// the merges; the page of a merged id is the survivor's, explain included.
func TestCustomerPageShowsMerges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := domain.Identity{Kind: domain.IdentityUnionID, Value: "oU-merge"}
	for _, id := range []string{"c0000003", "mp-1"} {
		c := domain.Customer{ID: id, Identities: []domain.Identity{u}}
		if id == "c0000003" {
			got, err := f.e.Customer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			c = *got
			c.Identities = []domain.Identity{u}
		}
		if _, err := f.e.StoreCustomers(ctx, []domain.Customer{c}, anchor, "import mini.jsonl"); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	f.signIn(c, marketerSecret)
	f.get(c, "/lang/en?back=/")
	_, page := f.get(c, "/customers/mp-1?explain=recall/lapsed")
	for _, want := range []string{"<h1>c0000003", `<th>unionid</th><td>oU-merge</td>`, `<code>mp-1</code>`, `<tr data-merged="mp-1">`, "import mini.jsonl", `id="verdict"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the merged id's page lacks %q:\n%s", want, page)
		}
	}
}

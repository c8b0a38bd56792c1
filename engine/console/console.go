// Package console is koi's web console for marketers: server-rendered
// pages (html/template), assets embedded, no script from elsewhere,
// working offline. It signs in with the API's keys (engine/apikey) into a
// session cookie, puts a CSRF token in every form, and speaks Chinese by
// default and English one click away. It knows the engine, not the HTTP
// API: cmd wiring mounts both on one listener.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/apikey"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config configures the console.
type Config struct {
	// Keys are the keys that may sign in (marketer and admin ones).
	Keys []apikey.Key
	// SessionTTL is how long a sign-in lasts (default 12 hours).
	SessionTTL time.Duration
	// MaxSessions bounds the signed-in browsers kept (default 1,000).
	MaxSessions int
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
	// Location is the time zone pages show times in (default UTC).
	Location *time.Location
	// NextRun tells when a playbook next runs on its schedule.
	NextRun func(playbook string) (time.Time, bool)
	// Log receives failures (default slog.Default()).
	Log *slog.Logger
	// Warm computes the pond page's summaries (every window) at once, in
	// the background, so that the first visits find them ready.
	Warm bool
	// Context bounds the console's background work: when it ends, so does
	// any summary being computed (default: never).
	Context context.Context
	// Jobs is the outbox, for the outbox page (nil: not shown).
	Jobs engine.JobStore
	// JobsChanged is called after a job is retried, so that the
	// dispatcher looks at once.
	JobsChanged func()
	// Tasks are the guides' follow-up tasks and Guides the configured
	// guides, for the guides page.
	Tasks  engine.TaskStore
	Guides []actions.Guide
	// PlaybooksDir is where the editor writes playbook files, and Reload
	// what reloads them after a save (koi serve's reload, as SIGHUP). No
	// directory: the editor is off.
	PlaybooksDir string
	Reload       func(ctx context.Context) (engine.ReloadResult, error)
	// RunTest runs the cases of testFile (a playbook's *_test.yaml)
	// against source as the playbook file, without touching the playbooks
	// directory: the editor's "run its test". Nil: the editor offers none.
	RunTest func(ctx context.Context, testFile, playbookFile string, source []byte) ([]TestCaseResult, error)
}

// TestCaseResult is one case of a playbook's test file, run.
type TestCaseResult struct {
	Case     string
	Line     int
	Passed   bool
	Failures []string
}

// Cookie names.
const (
	sessionCookie = "koi_session"
	signinCookie  = "koi_signin"
	langCookie    = "koi_lang"
)

// maxForm bounds a form's body: the editor's playbook (maxSource) and a
// little more.
const maxForm = maxSource + 16<<10

type server struct {
	engine   *engine.Engine
	cfg      Config
	sessions *sessions
	pages    map[string]*template.Template
	// signins limits sign-in attempts, all callers together: a key is
	// 32 random bytes, but nothing should be able to try them quickly.
	signins *rate.Limiter
	pond    *summaryCache
	// jobCounts keeps the outbox page's counts by state a while.
	jobCounts jobCounts
	// saveMu makes the editor's saves one at a time.
	saveMu sync.Mutex
}

// New returns the console's handler over e.
func New(e *engine.Engine, cfg Config) http.Handler {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &server{engine: e, cfg: cfg, sessions: newSessions(cfg.MaxSessions), pages: parsePages(),
		signins: rate.NewLimiter(rate.Limit(5), 10)}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	s.pond = newSummaryCache(cfg.Context, e, cfg.Now, cfg.Log)
	if cfg.Warm {
		s.pond.warm()
	}
	static, _ := fs.Sub(assets, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	// Browsers ask for an icon on their own; it has none, and must not be
	// sent to sign in.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /signin", s.signinPage)
	mux.HandleFunc("POST /signin", s.signin)
	mux.HandleFunc("POST /signout", s.signedIn(s.signout))
	mux.HandleFunc("GET /lang/{lang}", s.setLang)
	mux.HandleFunc("GET /{$}", s.signedIn(s.pondPage))
	mux.HandleFunc("GET /playbooks", s.signedIn(s.playbooksPage))
	mux.HandleFunc("GET /customers", s.signedIn(s.customersPage))
	mux.HandleFunc("GET /customers/{id}", s.signedIn(s.customerPage))
	mux.HandleFunc("GET /guides", s.signedIn(s.guidesPage))
	mux.HandleFunc("POST /guides/{guide}/tasks/{task}/done", s.signedIn(s.completeTask))
	mux.HandleFunc("GET /outbox", s.signedIn(s.outboxPage))
	if cfg.Jobs != nil {
		mux.HandleFunc("POST /outbox/{id}/retry", s.signedIn(s.moveJob(cfg.Jobs.RetryJob, true)))
		mux.HandleFunc("POST /outbox/{id}/cancel", s.signedIn(s.moveJob(cfg.Jobs.CancelJob, false)))
	}
	mux.HandleFunc("GET /playbooks/{name}/report", s.signedIn(s.reportPage))
	mux.HandleFunc("GET /editor", s.signedIn(s.editorPage))
	mux.HandleFunc("POST /editor", s.signedIn(s.editorPost))
	mux.HandleFunc("POST /editor/validate", s.signedIn(s.validateJSON))
	mux.HandleFunc("GET /runs", s.signedIn(s.runsPage))
	mux.HandleFunc("GET /runs/{id}", s.signedIn(s.runPage))
	mux.HandleFunc("POST /runs/{id}/approve", s.signedIn(s.decide(e.Approve)))
	mux.HandleFunc("POST /runs/{id}/reject", s.signedIn(s.decide(e.Reject)))
	mux.HandleFunc("/", s.signedIn(func(w http.ResponseWriter, r *http.Request, v *view) {
		s.fail(w, r, v, http.StatusNotFound, "error.notfound")
	}))
	return secureHeaders(mux)
}

// secureHeaders sets what every answer carries: no framing, no sniffing,
// no script or style but the console's own.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// view is what every page's template gets.
type view struct {
	Lang string
	// Path is the page's path, for the navigation; Here the page with its
	// query, for the language switch to come back to.
	Path, Here string
	// Key is the signed-in key (nil on the sign-in page).
	Key  *apikey.Key
	CSRF string
	// Title is the page title's message key.
	Title string
	// Error is a message shown at the top of the page.
	Error string
	Data  any

	token string
	now   time.Time
	loc   *time.Location
}

// lang returns the request's language: the cookie's, else the default.
func lang(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		for _, l := range languages {
			if c.Value == l {
				return l
			}
		}
	}
	return languages[0]
}

// signedIn serves h to signed-in browsers and sends others to sign in.
// For anything but GET and HEAD it checks the form's CSRF token first.
func (s *server) signedIn(h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := s.cfg.Now()
		v := &view{Lang: lang(r), Path: r.URL.Path, Here: r.URL.RequestURI(), now: now, loc: s.cfg.Location}
		c, err := r.Cookie(sessionCookie)
		var sess *session
		if err == nil {
			sess = s.sessions.get(c.Value, now)
		}
		if sess == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			s.fail(w, r, v, http.StatusForbidden, "error.csrf")
			return
		}
		v.Key, v.CSRF, v.token = &sess.key, sess.csrf, c.Value
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil || !sameToken(r.PostForm.Get("csrf"), sess.csrf) {
				s.fail(w, r, v, http.StatusForbidden, "error.csrf")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, v)
	}
}

// render writes page with v, or an error page when it fails.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.cfg.Log.Error("console page failed", "page", page, "err", err)
		http.Error(w, "the page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page with the message of key.
func (s *server) fail(w http.ResponseWriter, r *http.Request, v *view, status int, key string, args ...any) {
	v.Title, v.Error = "error.title", translate(v.Lang, key, args...)
	s.render(w, r, status, "error", v)
}

// internal shows err as a server error and logs it.
func (s *server) internal(w http.ResponseWriter, r *http.Request, v *view, err error) {
	s.cfg.Log.Error("console request failed", "path", r.URL.Path, "err", err)
	status := http.StatusInternalServerError
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	s.fail(w, r, v, status, "error.internal", err.Error())
}

// setLang remembers the language chosen and goes back to the page.
func (s *server) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.PathValue("lang")
	known := false
	for _, k := range languages {
		known = known || k == l
	}
	if !known {
		http.NotFound(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// localPath returns back when it is a path on this server, else "/": a
// link must not be able to send a signed-in browser elsewhere.
func localPath(back string) string {
	// Browsers drop tabs and newlines from URLs and read '\\' as '/': any
	// control character or backslash could turn "/\t/x" into "//x".
	if strings.IndexFunc(back, func(r rune) bool { return unicode.IsControl(r) || r == '\\' }) >= 0 {
		return "/"
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		return "/"
	}
	return back
}

// pageFuncs are the templates' functions.
func pageFuncs() template.FuncMap {
	return template.FuncMap{
		"t": translate,
		// pathesc escapes a path segment: an id may hold '/', '?' or '#'.
		"pathesc": url.PathEscape,
		"int":     func(n int) string { return groupDigits(fmt.Sprint(n)) },
		"yuan": func(f float64) string {
			return groupDigits(fmt.Sprintf("%.2f", f))
		},
		"num":    func(f float64) string { return fmt.Sprintf("%.2f", f) },
		"pct":    func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
		"mul300": func(f float64) float64 { return 300 * f },
		"time":   func(v *view, t time.Time) string { return t.In(v.loc).Format("2006-01-02 15:04") },
	}
}

// groupDigits puts thousands separators into a decimal number.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

var parseOnce = sync.OnceValue(func() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, p := range []string{"signin", "error", "pond", "playbooks", "runs", "run", "customers", "customer", "guides", "outbox", "editor", "report"} {
		pages[p] = template.Must(template.New(p).Funcs(pageFuncs()).ParseFS(assets, "templates/layout.html", "templates/"+p+".html"))
	}
	return pages
})

// parsePages parses every page with the layout (once: the templates are
// embedded, so a failure is a bug caught by the tests).
func parsePages() map[string]*template.Template { return parseOnce() }

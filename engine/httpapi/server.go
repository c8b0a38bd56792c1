// Package httpapi is koi's HTTP API, under /api/v1, on echo. Bodies are
// JSON; errors are {"error": {"code", "message", "field"}}, with one
// mapping from codes to statuses (errors.go); every endpoint needs an API
// key whose role allows it (auth.go).
package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/actions/wecom/callback"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/apikey"
	"github.com/koihq/koi/engine/wire"
)

// Config configures the API.
type Config struct {
	// Keys are the API keys the server accepts.
	Keys []apikey.Key
	// MaxBody is the largest request body in bytes (default 8 MiB).
	MaxBody int64
	// MaxBatch is the most events one batch may hold (default 10,000).
	MaxBatch int
	// Location is where a date without a time is midnight (default UTC).
	Location *time.Location
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
	// Log receives failed requests (default slog.Default()).
	Log *slog.Logger
	// Reload reloads the playbooks and their schedules; nil when the
	// server cannot (POST /playbooks/reload then says so).
	Reload func(ctx context.Context) (engine.ReloadResult, error)
	// NextRun tells when a playbook next runs on its schedule.
	NextRun func(playbook string) (time.Time, bool)
	// Ready reports why the server cannot work yet (/readyz); nil: ready.
	Ready func(ctx context.Context) error
	// Metrics, when set, is served at /metrics, without a key, as
	// Prometheus scrapes.
	Metrics http.Handler
	// EventTypes, when not empty, are the custom event types the API
	// accepts besides the built-in ones; others are refused.
	EventTypes []string
	// Jobs is the outbox: /jobs lists, retries and cancels its jobs.
	Jobs engine.JobStore
	// JobsChanged is called after a job is retried, so that the
	// dispatcher looks at once.
	JobsChanged func()
	// Tasks are the guides' follow-up tasks, for /guides.
	Tasks engine.TaskStore
	// Guides are the configured sales guides.
	Guides []actions.Guide
	// QueryBudget bounds the time one filtered listing may take (default
	// 10 s): a filter that needs longer is refused, naming it.
	QueryBudget time.Duration
	// PreviewBudget bounds the time one preview may take (default 60 s).
	PreviewBudget time.Duration
	// WeComCallback, when set, serves WeCom's callbacks at /wecom/callback
	// (its signature instead of an API key): contacts added, edited and
	// deleted become customers and wecom_add, wecom_edit and wecom_del
	// events.
	WeComCallback *callback.Crypt
}

type server struct {
	engine   *engine.Engine
	keys     []apikey.Key
	maxBatch int
	loc      *time.Location
	now      func() time.Time
	log      *slog.Logger
	reload   func(ctx context.Context) (engine.ReloadResult, error)
	nextRun  func(string) (time.Time, bool)
	ready    func(ctx context.Context) error
	// eventTypes are the custom types accepted; empty accepts any.
	eventTypes map[string]bool

	jobs        engine.JobStore
	jobsChanged func()
	tasks       engine.TaskStore
	guides      []actions.Guide
	queryBudget time.Duration
	// previewBudget bounds a preview.
	previewBudget time.Duration
}

// New returns the API's handler over e.
func New(e *engine.Engine, cfg Config) http.Handler {
	s := &server{engine: e, keys: cfg.Keys, maxBatch: cfg.MaxBatch, loc: cfg.Location, now: cfg.Now, log: cfg.Log,
		reload: cfg.Reload, nextRun: cfg.NextRun, ready: cfg.Ready,
		jobs: cfg.Jobs, jobsChanged: cfg.JobsChanged, tasks: cfg.Tasks, guides: cfg.Guides}
	if len(cfg.EventTypes) > 0 {
		s.eventTypes = map[string]bool{}
		for _, t := range cfg.EventTypes {
			s.eventTypes[t] = true
		}
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 8 << 20
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 10_000
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.queryBudget, s.previewBudget = cfg.QueryBudget, cfg.PreviewBudget
	if s.queryBudget <= 0 {
		s.queryBudget = 10 * time.Second
	}
	if s.previewBudget <= 0 {
		s.previewBudget = time.Minute
	}
	ec := echo.New()
	ec.HideBanner, ec.HidePort = true, true
	ec.HTTPErrorHandler = s.handleError
	ec.Use(middleware.Recover())
	ec.Use(middleware.BodyLimit(strconv.FormatInt(cfg.MaxBody, 10) + "B"))
	ec.Use(unescapeParams)

	ec.GET("/healthz", s.healthz)
	ec.GET("/readyz", s.readyz)
	if cfg.Metrics != nil {
		ec.GET("/metrics", echo.WrapHandler(cfg.Metrics))
	}
	ec.GET("/api/v1/openapi.yaml", serveOpenAPI)
	if cfg.WeComCallback != nil {
		w := &wecomCallback{s: s, crypt: cfg.WeComCallback}
		ec.GET("/wecom/callback", w.verify)
		ec.POST("/wecom/callback", w.receive)
	}
	v1 := ec.Group("/api/v1", s.authenticate)
	// The group's catch-all, which makes a request for no route still meet
	// authenticate, would also answer a known path's wrong method: 404
	// no_route instead of the 405 openapi.yaml promises.
	v1.RouteNotFound("/*", noRoute(ec))
	s.routes(v1)
	return ec
}

// probeMethods are the methods noRoute tries a path with.
var probeMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
	http.MethodPatch, http.MethodHead, http.MethodOptions}

// noRoute answers a request under /api/v1 that no route takes: 405
// method_not_allowed, with the methods the path does take in Allow, when
// a route has the path with another method; 404 no_route otherwise. Echo
// gives a group with middleware a catch-all route, and the router prefers
// it to its own 405 (which would besides list OPTIONS, which koi does not
// serve), so the catch-all has to tell the two cases apart itself.
func noRoute(ec *echo.Echo) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := echo.GetPath(c.Request())
		var allow []string
		for _, m := range probeMethods {
			if m == c.Request().Method {
				continue
			}
			probe := ec.NewContext(c.Request(), nil)
			ec.Router().Find(m, path, probe)
			// A method without a route of its own finds this catch-all.
			if probe.Path() != c.Path() {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			return echo.ErrNotFound
		}
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
		return echo.ErrMethodNotAllowed
	}
}

// unescapeParams decodes the route's path parameters. Echo matches on the
// raw path, so that an escaped slash stays within its segment, and hands
// the parameters over still escaped: without this, the customer a%2Fb
// (whose id is "a/b") could not be fetched, and PUT /customers/a%2Fb
// created one whose id was "a%2Fb".
func unescapeParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Echo routes on the raw path when the request has one (its escaping
		// differs from the default, as %2F does), else on the decoded path.
		vals := c.ParamValues()
		if len(vals) == 0 || c.Request().URL.RawPath == "" {
			return next(c)
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			u, err := url.PathUnescape(v)
			if err != nil {
				return fieldErr(c.ParamNames()[i], "bad escape in the path: "+err.Error())
			}
			out[i] = u
		}
		c.SetParamValues(out...)
		return next(c)
	}
}

// routes lists every endpoint under /api/v1 with the roles it admits
// (admin admits everything). openapi.yaml documents each; a test holds
// the two to each other.
func (s *server) routes(v1 *echo.Group) {
	ingest := allow(apikey.RoleIngest)
	marketer := allow(apikey.RoleMarketer)
	adminOnly := allow()

	v1.POST("/events", s.postEvent, ingest)
	v1.POST("/events/batch", s.postEventBatch, ingest)

	v1.PUT("/customers/:id", s.putCustomer, ingest)
	v1.POST("/customers", s.postCustomer, ingest)
	v1.GET("/customers/:id", s.getCustomer, marketer)
	v1.GET("/customers", s.listCustomers, marketer)
	v1.DELETE("/customers/:id", s.deleteCustomer, adminOnly)
	v1.GET("/merges", s.listMerges, adminOnly)
	v1.POST("/customers/:id/opt_out", s.optOut, ingest)
	v1.DELETE("/customers/:id/opt_out/:channel", s.optIn, ingest)

	v1.GET("/playbooks", s.listPlaybooks, marketer)
	v1.GET("/playbooks/:name", s.getPlaybook, marketer)
	v1.POST("/playbooks/validate", s.validatePlaybook, marketer)
	v1.POST("/playbooks/reload", s.reloadPlaybooks, marketer)
	v1.POST("/playbooks/:name/preview", s.previewPlaybook, marketer)
	v1.GET("/customers/:id/explain", s.explainRule, marketer)
	v1.POST("/playbooks/:name/run", s.runPlaybookNow, marketer)

	v1.GET("/runs", s.listRuns, marketer)
	v1.GET("/runs/:id", s.getRun, marketer)
	v1.POST("/runs/:id/approve", s.approveRun, marketer)
	v1.POST("/runs/:id/reject", s.rejectRun, marketer)
	v1.GET("/fires", s.listFires, marketer)

	v1.GET("/coupons", s.listCoupons, marketer)
	v1.POST("/coupons/:code/redeem", s.redeemCoupon, ingest)

	v1.GET("/jobs", s.listJobs, marketer)
	v1.GET("/jobs/:id", s.getJob, marketer)
	v1.POST("/jobs/:id/retry", s.retryJob, marketer)
	v1.POST("/jobs/:id/cancel", s.cancelJob, marketer)

	v1.GET("/guides", s.listGuides, marketer)
	v1.GET("/guides/:id/tasks", s.listTasks, marketer)
	v1.POST("/guides/:id/tasks/:task/done", s.completeTask, marketer)

	v1.GET("/reports/segments", s.segmentReport, marketer)
	v1.GET("/reports/rules", s.ruleReport, marketer)
}

// decode reads the request body, within the size limit, and decodes it
// strictly into v.
func decode(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	return wire.DecodeStrict(body, v)
}

// Package httpapi is koi's HTTP API, under /api/v1, on echo. Bodies are
// JSON; errors are {"error": {"code", "message", "field"}}, with one
// mapping from codes to statuses (errors.go); every endpoint needs an API
// key whose role allows it (auth.go).
package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/wire"
)

// Config configures the API.
type Config struct {
	// Keys are the API keys the server accepts.
	Keys []Key
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
}

type server struct {
	engine   *engine.Engine
	keys     []Key
	maxBatch int
	loc      *time.Location
	now      func() time.Time
	log      *slog.Logger
}

// New returns the API's handler over e.
func New(e *engine.Engine, cfg Config) http.Handler {
	s := &server{engine: e, keys: cfg.Keys, maxBatch: cfg.MaxBatch, loc: cfg.Location, now: cfg.Now, log: cfg.Log}
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
	ec := echo.New()
	ec.HideBanner, ec.HidePort = true, true
	ec.HTTPErrorHandler = s.handleError
	ec.Use(middleware.Recover())
	ec.Use(middleware.BodyLimit(strconv.FormatInt(cfg.MaxBody, 10) + "B"))

	v1 := ec.Group("/api/v1", s.authenticate)
	writers := allow(RoleIngest)
	readers := allow(RoleMarketer)
	v1.POST("/events", s.postEvent, writers)
	v1.POST("/events/batch", s.postEventBatch, writers)
	v1.PUT("/customers/:id", s.putCustomer, writers)
	v1.GET("/customers/:id", s.getCustomer, readers)
	return ec
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

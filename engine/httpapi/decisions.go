package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/apikey"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/wire"
)

// runID reads the :id of a run path.
func runID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fieldErr("id", "a run id is a positive whole number")
	}
	return id, nil
}

// keyName names the API key of the request, for recording who decided.
func keyName(c echo.Context) string {
	if k, _ := c.Get(keyContext).(*apikey.Key); k != nil {
		return "key:" + k.Name
	}
	return "anonymous"
}

// approveRun releases a held run as it was computed; rejectRun discards
// it. Either is recorded with the API key that decided.
func (s *server) approveRun(c echo.Context) error { return s.decideRun(c, s.engine.Approve) }

func (s *server) rejectRun(c echo.Context) error { return s.decideRun(c, s.engine.Reject) }

func (s *server) decideRun(c echo.Context, decide func(ctx context.Context, id int64, by string, now time.Time) (*engine.Run, error)) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, err := decide(c.Request().Context(), id, keyName(c), s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, run)
}

// ruleReport is the outcome report per rule: ?playbook=&at=.
func (s *server) ruleReport(c echo.Context) error {
	now := s.now()
	if v := c.QueryParam("at"); v != "" {
		t, err := wire.ParseTime("at", v, s.loc)
		if err != nil {
			return err
		}
		if err := domain.CheckMoment("at", t, now); err != nil {
			return err
		}
		now = t
	}
	reps, err := s.engine.Report(c.Request().Context(), c.QueryParam("playbook"), now)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"at": now, "rules": reps})
}

// optOut opts a customer out of a channel ({"channel": "wecom"}, or "*"
// for every channel); optIn, DELETE …/opt_out/{channel}, takes one back.
func (s *server) optOut(c echo.Context) error {
	var req struct {
		Channel string `json:"channel"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	list, err := s.engine.SetOptOut(c.Request().Context(), c.Param("id"), req.Channel, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"customer_id": c.Param("id"), "opt_out": nonNil(list)})
}

func (s *server) optIn(c echo.Context) error {
	list, err := s.engine.SetOptOut(c.Request().Context(), c.Param("id"), c.Param("channel"), false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"customer_id": c.Param("id"), "opt_out": nonNil(list)})
}

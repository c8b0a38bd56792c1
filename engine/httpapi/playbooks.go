package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/rules"
)

// playbookView is a playbook file as the API shows it: the version
// running from it, and the errors of its latest content.
type playbookView struct {
	engine.PlaybookFile
	Name        string     `json:"name,omitempty"`
	Description string     `json:"description,omitempty"`
	Schedule    string     `json:"schedule,omitempty"`
	Timezone    string     `json:"timezone,omitempty"`
	NextRun     *time.Time `json:"next_run,omitempty"`
	LastRunAt   *time.Time `json:"last_run_at,omitempty"`
	Rules       []ruleView `json:"rules,omitempty"`
	Source      string     `json:"source,omitempty"`
}

type ruleView struct {
	ID       string   `json:"id"`
	On       string   `json:"on,omitempty"`
	When     string   `json:"when"`
	Cooldown string   `json:"cooldown,omitempty"`
	Once     bool     `json:"once,omitempty"`
	Stop     bool     `json:"stop,omitempty"`
	Actions  []string `json:"actions"`
}

func (s *server) view(c echo.Context, f engine.PlaybookFile, source bool) (playbookView, error) {
	v := playbookView{PlaybookFile: f.Public()}
	pb, ok := s.engine.Playbook(f.Playbook)
	if !ok {
		return v, nil
	}
	v.Name, v.Description, v.Schedule = pb.Name, pb.Description, pb.Schedule
	if pb.Location != nil {
		v.Timezone = pb.Location.String()
	}
	if s.nextRun != nil {
		if t, ok := s.nextRun(pb.Name); ok {
			v.NextRun = &t
		}
	}
	last, ok, err := s.engine.LastRunAt(c.Request().Context(), pb.Name)
	if err != nil {
		return v, err
	}
	if ok {
		v.LastRunAt = &last
	}
	for _, r := range pb.Rules {
		rv := ruleView{ID: r.ID, On: r.On, When: r.When.Source, Once: r.Once, Stop: r.Stop, Actions: []string{}}
		if r.Cooldown > 0 {
			rv.Cooldown = actions.Duration(r.Cooldown).String()
		}
		for _, a := range r.Actions {
			rv.Actions = append(rv.Actions, a.Kind)
		}
		v.Rules = append(v.Rules, rv)
	}
	if source {
		v.Source = pb.Source
	}
	return v, nil
}

// listPlaybooks lists every playbook file: what runs from it, and its
// latest errors.
func (s *server) listPlaybooks(c echo.Context) error {
	out := []playbookView{}
	for _, f := range s.engine.Files() {
		v, err := s.view(c, f, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"playbooks": out})
}

// getPlaybook returns a running playbook with the source it runs from.
func (s *server) getPlaybook(c echo.Context) error {
	name := c.Param("name")
	for _, f := range s.engine.Files() {
		if f.Playbook == name {
			v, err := s.view(c, f, true)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, v)
		}
	}
	return &domain.Error{Code: domain.ENotFound, Message: "no playbook named " + name + " is running"}
}

// validatePlaybook loads the posted YAML as koi would, without running it,
// and reports every error with its line and column.
func (s *server) validatePlaybook(c echo.Context) error {
	src, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	file := c.QueryParam("file")
	if file == "" {
		file = "playbook.yaml"
	}
	file = filepath.Base(file)
	pb, err := rules.Load(file, src, s.engine.LoadOptions())
	var list rules.ErrorList
	switch {
	case errors.As(err, &list):
		return c.JSON(http.StatusOK, map[string]any{"valid": false, "errors": list})
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"valid": true, "errors": []rules.Error{}, "name": pb.Name, "hash": pb.Hash, "rules": len(pb.Rules)})
}

// runRequest is the body of run and preview: the moment to evaluate
// (default now).
type runRequest struct {
	At string `json:"at"`
}

// runAt reads the moment of a run or preview: the body's at, else the
// query's, else now.
func (s *server) runAt(c echo.Context) (time.Time, error) {
	var req runRequest
	if c.Request().ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			return time.Time{}, err
		}
	}
	if v := c.QueryParam("at"); v != "" && req.At == "" {
		req.At = v
	}
	if req.At == "" {
		return s.now(), nil
	}
	t, err := time.Parse(time.RFC3339, req.At)
	if err != nil {
		return time.Time{}, fieldErr("at", "want an RFC 3339 time like 2026-05-01T10:00:00+08:00")
	}
	return t, domain.CheckMoment("at", t, s.now())
}

func (s *server) runPlaybook(c echo.Context, dry bool) error {
	at, err := s.runAt(c)
	if err != nil {
		return err
	}
	runs, err := s.engine.Run(c.Request().Context(), engine.RunRequest{Playbooks: []string{c.Param("name")}, At: at, DryRun: dry})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, runs[0])
}

// previewPlaybook computes what a run would do without writing anything:
// counts per rule and reason, overlap between rules, and a sample of
// customers with the values their conditions read.
func (s *server) previewPlaybook(c echo.Context) error {
	at, err := s.runAt(c)
	if err != nil {
		return err
	}
	sample := engine.DefaultPreviewSample
	if v := c.QueryParam("sample"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			return fieldErr("sample", "want a whole number from 0 to 1000")
		}
		sample = n
		if n == 0 {
			sample = -1
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.previewBudget)
	defer cancel()
	p, err := s.engine.Preview(ctx, engine.PreviewRequest{Playbook: c.Param("name"), At: at, Sample: sample})
	if errors.Is(err, context.DeadlineExceeded) && c.Request().Context().Err() == nil {
		return &domain.Error{Code: domain.EUnavailable, Message: fmt.Sprintf("the preview ran out of its %s budget: the pond is large or a condition is slow", s.previewBudget)}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// explainRule explains one rule (or journey step) for one customer: GET
// /customers/{id}/explain?rule=PLAYBOOK/RULE&at=; a journey alone
// (rule=JOURNEY) explains the customer's next step.
func (s *server) explainRule(c echo.Context) error {
	pb, rule, ok := strings.Cut(c.QueryParam("rule"), "/")
	// A journey's name alone explains the customer's next step.
	journey := false
	if p, found := s.engine.Playbook(pb); !ok && found && p.Journey != nil {
		journey = true
	}
	if pb == "" || (ok && rule == "") || (!ok && !journey) {
		return fieldErr("rule", "want PLAYBOOK/RULE, like rfm-care/recall-important-retain (or a journey's name alone, for the customer's next step)")
	}
	at, err := s.runAt(c)
	if err != nil {
		return err
	}
	x, err := s.engine.Explain(c.Request().Context(), engine.ExplainRequest{Playbook: pb, Rule: rule, CustomerID: c.Param("id"), At: at})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, x)
}

// runPlaybookNow runs a playbook now (or at a given moment) and returns
// its run.
func (s *server) runPlaybookNow(c echo.Context) error { return s.runPlaybook(c, false) }

// reloadPlaybooks reloads the playbooks directory, as SIGHUP does.
func (s *server) reloadPlaybooks(c echo.Context) error {
	if s.reload == nil {
		return &domain.Error{Code: domain.EInvalid, Message: "this server does not reload playbooks"}
	}
	res, err := s.reload(c.Request().Context())
	var list rules.ErrorList
	if err != nil && !errors.As(err, &list) {
		return err
	}
	files := make([]engine.PlaybookFile, len(res.Files))
	for i, f := range res.Files {
		files[i] = f.Public()
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": err == nil, "files": files,
		"added": nonNil(res.Added), "changed": nonNil(res.Changed), "removed": nonNil(res.Removed)})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

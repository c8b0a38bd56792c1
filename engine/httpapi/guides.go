package httpapi

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// guide returns the configured guide the path names; a 404 otherwise.
func (s *server) guide(c echo.Context) (actions.Guide, error) {
	id := c.Param("id")
	for _, g := range s.guides {
		if g.ID == id {
			return g, nil
		}
	}
	return actions.Guide{}, &domain.Error{Code: domain.ENotFound, Message: "no guide " + strconv.Quote(id) + " is configured"}
}

// listGuides lists the configured guides with their open tasks.
func (s *server) listGuides(c echo.Context) error {
	load, err := s.tasks.GuideLoad(c.Request().Context())
	if err != nil {
		return err
	}
	type guide struct {
		ID        string `json:"id"`
		Name      string `json:"name,omitempty"`
		Capacity  int    `json:"capacity"`
		OpenTasks int    `json:"open_tasks"`
	}
	out := make([]guide, len(s.guides))
	for i, g := range s.guides {
		out[i] = guide{ID: g.ID, Name: g.Name, Capacity: g.Capacity, OpenTasks: load[g.ID]}
	}
	return c.JSON(http.StatusOK, map[string]any{"guides": out})
}

// listTasks lists a guide's tasks in the order they were created:
// ?state=open|done&after=&limit=.
func (s *server) listTasks(c echo.Context) error {
	g, err := s.guide(c)
	if err != nil {
		return err
	}
	f := domain.TaskFilter{Guide: g.ID}
	if f.Limit, err = queryInt(c, "limit"); err != nil {
		return err
	}
	after, err := queryInt(c, "after")
	if err != nil {
		return err
	}
	f.After = int64(after)
	switch st := domain.TaskState(c.QueryParam("state")); st {
	case "", domain.TaskOpen, domain.TaskDone:
		f.State = st
	default:
		return fieldErr("state", "want open or done, got "+strconv.Quote(string(st)))
	}
	tasks, err := s.tasks.ListTasks(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if tasks == nil {
		tasks = []*domain.Task{}
	}
	return c.JSON(http.StatusOK, map[string]any{"tasks": tasks})
}

// completeTask marks a guide's open task done; done already is a 409.
func (s *server) completeTask(c echo.Context) error {
	g, err := s.guide(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("task"), 10, 64)
	if err != nil || id <= 0 {
		return fieldErr("task", "a task id is a positive whole number")
	}
	t, err := s.tasks.CompleteTask(c.Request().Context(), g.ID, id, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

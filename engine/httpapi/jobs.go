package httpapi

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/koihq/koi/engine/domain"
	"github.com/labstack/echo/v4"
)

// listJobs lists the outbox's jobs, newest first:
// ?state=&kind=&playbook=&customer=&fire=&before=&limit=.
func (s *server) listJobs(c echo.Context) error {
	var f domain.JobFilter
	var err error
	if f.Limit, f.Before, err = page(c); err != nil {
		return err
	}
	fire, err := queryInt(c, "fire")
	if err != nil {
		return err
	}
	f.FireID = int64(fire)
	if st := c.QueryParam("state"); st != "" {
		f.State = domain.JobState(st)
		if !slices.Contains(domain.JobStates, f.State) {
			return fieldErr("state", "want one of "+domain.JobStateNames()+", got "+strconv.Quote(st))
		}
	}
	f.Kind, f.Playbook, f.CustomerID = c.QueryParam("kind"), c.QueryParam("playbook"), c.QueryParam("customer")
	jobs, err := s.jobs.ListJobs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if jobs == nil {
		jobs = []*domain.Job{}
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": jobs})
}

func jobID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fieldErr("id", "a job id is a positive whole number")
	}
	return id, nil
}

// getJob returns one job.
func (s *server) getJob(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	j, err := s.jobs.GetJob(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// retryJob makes a finished job pending again, due now, its attempts
// reset, and wakes the dispatcher; a pending job is a 409.
func (s *server) retryJob(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	j, err := s.jobs.RetryJob(c.Request().Context(), id, s.now())
	if err != nil {
		return err
	}
	if s.jobsChanged != nil {
		s.jobsChanged()
	}
	return c.JSON(http.StatusOK, j)
}

// cancelJob cancels a pending job; any other is a 409.
func (s *server) cancelJob(c echo.Context) error {
	id, err := jobID(c)
	if err != nil {
		return err
	}
	j, err := s.jobs.CancelJob(c.Request().Context(), id, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

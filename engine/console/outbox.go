package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// jobsPerPage is how many jobs the outbox page lists at once.
const jobsPerPage = 50

// countsFor is how long the outbox page's counts by state are kept: they
// read the whole jobs table.
const countsFor = 30 * time.Second

// jobCounts keeps the latest counts of jobs by state.
type jobCounts struct {
	mu     sync.Mutex
	at     time.Time
	counts map[domain.JobState]int
}

func (c *jobCounts) get(ctx context.Context, s *server) (map[domain.JobState]int, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.cfg.Now()
	if c.counts == nil || now.Sub(c.at) > countsFor || now.Before(c.at) {
		counts, err := s.cfg.Jobs.CountJobs(ctx)
		if err != nil {
			return nil, time.Time{}, err
		}
		c.counts, c.at = counts, now
	}
	return c.counts, c.at, nil
}

// forget drops the counts after a change the page made.
func (c *jobCounts) forget() {
	c.mu.Lock()
	c.counts = nil
	c.mu.Unlock()
}

type stateCount struct {
	State domain.JobState
	Count int
}

type outboxData struct {
	Configured bool
	Counts     []stateCount
	CountedAt  time.Time
	State      domain.JobState
	Jobs       []*domain.Job
	Older      int64
}

// outboxPage shows the jobs by state and lists those of one state
// (?state=, dead by default), newest first, with Retry and Cancel.
func (s *server) outboxPage(w http.ResponseWriter, r *http.Request, v *view) {
	d := &outboxData{Configured: s.cfg.Jobs != nil, State: domain.JobDead}
	v.Title, v.Data = "outbox.title", d
	if !d.Configured {
		s.render(w, r, http.StatusOK, "outbox", v)
		return
	}
	q := r.URL.Query()
	if st := q.Get("state"); st != "" {
		d.State = domain.JobState(st)
		if !slices.Contains(domain.JobStates, d.State) {
			s.fail(w, r, v, http.StatusBadRequest, "error.bad_query", "state")
			return
		}
	}
	before, ok := beforeID(q)
	if !ok {
		s.fail(w, r, v, http.StatusBadRequest, "error.bad_query", "before")
		return
	}
	counts, at, err := s.jobCounts.get(r.Context(), s)
	if err != nil {
		s.internal(w, r, v, err)
		return
	}
	for _, st := range domain.JobStates {
		d.Counts = append(d.Counts, stateCount{st, counts[st]})
	}
	d.CountedAt = at
	jobs, err := s.cfg.Jobs.ListJobs(r.Context(), domain.JobFilter{State: d.State, Before: before, Limit: jobsPerPage})
	if err != nil {
		s.internal(w, r, v, err)
		return
	}
	d.Jobs = jobs
	if len(jobs) == jobsPerPage {
		d.Older = jobs[len(jobs)-1].ID
	}
	s.render(w, r, http.StatusOK, "outbox", v)
}

// moveJob retries or cancels a job, then goes back to the list it was on.
func (s *server) moveJob(move func(ctx context.Context, id int64, now time.Time) (*domain.Job, error), nudge bool) func(http.ResponseWriter, *http.Request, *view) {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			s.fail(w, r, v, http.StatusNotFound, "error.notfound")
			return
		}
		j, err := s.cfg.Jobs.GetJob(r.Context(), id)
		if err != nil {
			s.storeFailure(w, r, v, err)
			return
		}
		back := "/outbox?state=" + string(j.State)
		if _, err := move(r.Context(), id, s.cfg.Now()); err != nil {
			var de *domain.Error
			if errors.As(err, &de) && de.Code == domain.EConflict {
				s.fail(w, r, v, http.StatusConflict, "outbox.conflict", de.Message)
				return
			}
			s.storeFailure(w, r, v, err)
			return
		}
		s.jobCounts.forget()
		if nudge && s.cfg.JobsChanged != nil {
			s.cfg.JobsChanged()
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
	}
}

// guideRow is one guide on the guides page.
type guideRow struct {
	Guide actions.Guide
	Open  int
	// Load is the open tasks' share of the capacity (capped at 1 for the
	// bar; Over says it is beyond).
	Load  float64
	Over  bool
	Tasks []*domain.Task
}

// openTasksShown is how many open tasks a guide's row lists.
const openTasksShown = 20

// guidesPage shows each configured guide's load against capacity and
// their open tasks, each with a Done button.
func (s *server) guidesPage(w http.ResponseWriter, r *http.Request, v *view) {
	var rows []guideRow
	if s.cfg.Tasks != nil {
		load, err := s.cfg.Tasks.GuideLoad(r.Context())
		if err != nil {
			s.internal(w, r, v, err)
			return
		}
		for _, g := range s.cfg.Guides {
			row := guideRow{Guide: g, Open: load[g.ID]}
			if g.Capacity > 0 {
				row.Load = min(1, float64(row.Open)/float64(g.Capacity))
				row.Over = row.Open > g.Capacity
			}
			tasks, err := s.cfg.Tasks.ListTasks(r.Context(), domain.TaskFilter{Guide: g.ID, State: domain.TaskOpen, Limit: openTasksShown})
			if err != nil {
				s.internal(w, r, v, err)
				return
			}
			row.Tasks = tasks
			rows = append(rows, row)
		}
	}
	v.Title, v.Data = "guides.title", rows
	s.render(w, r, http.StatusOK, "guides", v)
}

// completeTask marks a guide's open task done.
func (s *server) completeTask(w http.ResponseWriter, r *http.Request, v *view) {
	id, err := strconv.ParseInt(r.PathValue("task"), 10, 64)
	if err != nil || id <= 0 || s.cfg.Tasks == nil {
		s.fail(w, r, v, http.StatusNotFound, "error.notfound")
		return
	}
	if _, err := s.cfg.Tasks.CompleteTask(r.Context(), r.PathValue("guide"), id, s.cfg.Now()); err != nil {
		var de *domain.Error
		if errors.As(err, &de) && de.Code == domain.EConflict {
			s.fail(w, r, v, http.StatusConflict, "outbox.conflict", de.Message)
			return
		}
		s.storeFailure(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/guides", http.StatusSeeOther)
}

package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
)

// runsPerPage is how many runs the runs page lists at once.
const runsPerPage = 50

// runStatuses are the statuses the runs page filters by.
var runStatuses = []string{engine.RunHeld, engine.RunDone, engine.RunFailed, engine.RunRunning,
	engine.RunRejected, engine.RunExpired, engine.RunInterrupted}

type runsData struct {
	Runs     []*engine.Run
	Status   string
	Statuses []string
	// Older pages on: the smallest id shown, when there may be more.
	Older int64
}

// runsPage lists runs, newest first, filtered by ?status= and paged by
// ?before=.
func (s *server) runsPage(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := &runsData{Status: q.Get("status"), Statuses: runStatuses}
	if d.Status != "" && !slices.Contains(runStatuses, d.Status) {
		s.fail(w, r, v, http.StatusBadRequest, "error.bad_query", "status")
		return
	}
	before, ok := beforeID(q)
	if !ok {
		s.fail(w, r, v, http.StatusBadRequest, "error.bad_query", "before")
		return
	}
	runs, err := s.engine.ListRuns(r.Context(), domain.RunFilter{Status: d.Status, BeforeID: before, Limit: runsPerPage})
	if err != nil {
		s.internal(w, r, v, err)
		return
	}
	d.Runs = runs
	if len(runs) == runsPerPage {
		d.Older = runs[len(runs)-1].ID
	}
	v.Title, v.Data = "runs.title", d
	s.render(w, r, http.StatusOK, "runs", v)
}

type runData struct {
	Run *engine.Run
	// Suppressed lists each rule's suppressions by reason, in order.
	Suppressed map[string][]reasonCount
	// CanDecide is true for a held run.
	CanDecide bool
}

type reasonCount struct {
	Reason string
	Count  int
}

// runPage shows one run: its per-rule counts and, when it is held, a
// sample of what it would fire with Approve and Reject.
func (s *server) runPage(w http.ResponseWriter, r *http.Request, v *view) {
	s.showRun(w, r, v, http.StatusOK)
}

func (s *server) showRun(w http.ResponseWriter, r *http.Request, v *view, status int) {
	id, ok := runID(r)
	if !ok {
		s.fail(w, r, v, http.StatusNotFound, "error.notfound")
		return
	}
	run, err := s.engine.GetRun(r.Context(), id)
	if err != nil {
		s.storeFailure(w, r, v, err)
		return
	}
	d := &runData{Run: run, Suppressed: map[string][]reasonCount{}, CanDecide: run.Status == engine.RunHeld}
	for _, c := range run.Rules {
		for reason, n := range c.Suppressed {
			if n > 0 {
				d.Suppressed[c.Rule] = append(d.Suppressed[c.Rule], reasonCount{reason, n})
			}
		}
		sort.Slice(d.Suppressed[c.Rule], func(i, j int) bool { return d.Suppressed[c.Rule][i].Reason < d.Suppressed[c.Rule][j].Reason })
	}
	v.Title, v.Data = "run.title", d
	s.render(w, r, status, "run", v)
}

// decide approves or rejects a held run in the signed-in key's name.
func (s *server) decide(decide func(ctx context.Context, id int64, by string, now time.Time) (*engine.Run, error)) func(http.ResponseWriter, *http.Request, *view) {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		id, ok := runID(r)
		if !ok {
			s.fail(w, r, v, http.StatusNotFound, "error.notfound")
			return
		}
		if _, err := decide(r.Context(), id, v.Key.Name, s.cfg.Now()); err != nil {
			var de *domain.Error
			if errors.As(err, &de) && de.Code == domain.EConflict {
				// Shown on the run's page: it is still there to look at.
				v.Error = de.Message
				s.showRun(w, r, v, http.StatusConflict)
				return
			}
			s.storeFailure(w, r, v, err)
			return
		}
		http.Redirect(w, r, "/runs/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
	}
}

// storeFailure shows a not-found as such and anything else as a server
// error.
func (s *server) storeFailure(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var de *domain.Error
	if errors.As(err, &de) && de.Code == domain.ENotFound {
		s.fail(w, r, v, http.StatusNotFound, "error.notfound")
		return
	}
	s.internal(w, r, v, err)
}

func runID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// beforeID reads the ?before= of a listing's page: 0 for the first page,
// false when it is not a positive id.
func beforeID(q url.Values) (int64, bool) {
	b := q.Get("before")
	if b == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(b, 10, 64)
	return n, err == nil && n > 0
}

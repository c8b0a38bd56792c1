package console

import (
	"net/http"
	"time"

	"github.com/koihq/koi/engine"
	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/rules"
)

// recentRuns is how many runs of each playbook its row lists.
const recentRuns = 3

// playbookRow is one playbook file on the playbooks page.
type playbookRow struct {
	File     string
	Name     string
	Running  bool
	Errors   []rules.Error
	Schedule string
	NextRun  *time.Time
	Rules    int
	// Journey marks a journey: Rules counts its steps, EnterOn is the
	// event it is entered on.
	Journey bool
	EnterOn string
	Runs    []*engine.Run
	// Last is the latest run with its per-rule counts.
	Last *engine.Run
}

func (s *server) playbooksPage(w http.ResponseWriter, r *http.Request, v *view) {
	var rows []playbookRow
	for _, f := range s.engine.Files() {
		f = f.Public()
		row := playbookRow{File: f.File, Name: f.Playbook, Errors: f.Errors}
		if pb, ok := s.engine.Playbook(f.Playbook); ok && f.Playbook != "" {
			row.Running, row.Schedule, row.Rules = true, pb.Schedule, len(pb.Rules)
			if pb.Journey != nil {
				row.Journey, row.EnterOn, row.Rules = true, pb.Journey.EnterOn, len(pb.Journey.Steps)
			}
			if s.cfg.NextRun != nil {
				if t, ok := s.cfg.NextRun(pb.Name); ok {
					row.NextRun = &t
				}
			}
			runs, err := s.engine.ListRuns(r.Context(), domain.RunFilter{Playbook: pb.Name, Limit: recentRuns})
			if err != nil {
				s.internal(w, r, v, err)
				return
			}
			row.Runs = runs
			if len(runs) > 0 {
				if row.Last, err = s.engine.GetRun(r.Context(), runs[0].ID); err != nil {
					s.internal(w, r, v, err)
					return
				}
			}
		}
		rows = append(rows, row)
	}
	v.Title, v.Data = "playbooks.title", rows
	s.render(w, r, http.StatusOK, "playbooks", v)
}

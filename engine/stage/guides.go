package stage

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/koihq/koi/actions"
	"github.com/koihq/koi/engine/domain"
)

// loadGuides reads the guides' loads once per batch; the batch counts its
// own tasks on top.
func (s *Effects) loadGuides() error {
	if s.loads != nil {
		return nil
	}
	open, last, err := s.tx.GuideLoads()
	if err != nil {
		s.fatal = err
		return err
	}
	if open == nil {
		open = map[string]int{}
	}
	s.loads, s.last = open, last
	return nil
}

// GuideRoster returns the configured guides with their open tasks,
// including this batch's and this fire's.
func (s *Effects) GuideRoster() (actions.GuideRoster, error) {
	if err := s.loadGuides(); err != nil {
		return actions.GuideRoster{}, err
	}
	r := actions.GuideRoster{Guides: make([]actions.GuideLoad, len(s.Guides)), Last: s.last}
	for i, g := range s.Guides {
		r.Guides[i] = actions.GuideLoad{Guide: g, Open: s.loads[g.ID]}
	}
	for _, t := range s.tasks {
		if i := s.guideIndex(t.Guide); i >= 0 {
			r.Guides[i].Open++
		}
		r.Last = t.Guide
	}
	return r, nil
}

func (s *Effects) guideIndex(id string) int {
	return slices.IndexFunc(s.Guides, func(g actions.Guide) bool { return g.ID == id })
}

// CustomerGuide returns the customer's guide as the batch has left it.
func (s *Effects) CustomerGuide(customerID string) (string, error) {
	st, err := s.state(customerID)
	return st.Guide, err
}

// AssignGuide stages a change of guide.
func (s *Effects) AssignGuide(customerID, guideID string) error {
	if s.guideIndex(guideID) < 0 {
		return fmt.Errorf("no guide %q is configured", guideID)
	}
	if _, err := s.state(customerID); err != nil {
		return err
	}
	s.custGuides[customerID] = guideID
	return nil
}

// CreateTask stages a task of the current fire's current action.
func (s *Effects) CreateTask(t actions.Task) error {
	if s.guideIndex(t.Guide) < 0 {
		return fmt.Errorf("no guide %q is configured", t.Guide)
	}
	if _, err := s.state(t.CustomerID); err != nil {
		return err
	}
	if err := s.loadGuides(); err != nil {
		return err
	}
	f := s.fire
	key := f.Key + "#" + strconv.Itoa(f.Index)
	if slices.ContainsFunc(s.tasks, func(nt domain.NewTask) bool { return nt.Key == key }) {
		return fmt.Errorf("an action creates at most one task per fire")
	}
	s.tasks = append(s.tasks, domain.NewTask{Key: key, Guide: t.Guide, CustomerID: t.CustomerID, FireID: f.FireID,
		Playbook: f.Playbook, Rule: f.Rule, Note: t.Note, DueAt: t.DueAt})
	return nil
}

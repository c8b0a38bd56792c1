package engine

import (
	"context"

	"github.com/koihq/koi/engine/domain"
	"github.com/koihq/koi/engine/report"
)

// messageOutcomes reads the message outcomes of the rules of a playbook
// (or all), by playbook and rule.
func (e *Engine) messageOutcomes(ctx context.Context, playbook string) (map[[2]string]*report.MessageOutcomes, error) {
	counts, err := e.store.MessageStates(ctx, playbook)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]*report.MessageOutcomes{}
	for _, c := range counts {
		k := [2]string{c.Playbook, c.Rule}
		m := out[k]
		if m == nil {
			m = &report.MessageOutcomes{ByState: map[string]int{}}
			out[k] = m
		}
		state := c.State
		if state == "" {
			state = "unknown" // recorded before koi tracked outcomes
		}
		if domain.JobState(state).Reached() {
			m.Contacts += c.N
		}
		m.Planned += c.N
		m.ByState[state] += c.N
	}
	return out, nil
}

package engine

import (
	"context"
	"time"

	"github.com/koihq/koi/engine/report"
)

// MessageRecord is one message to a customer, as the contact history
// keeps it: when it was due, on which channel, and what became of it.
type MessageRecord struct {
	Playbook string    `json:"playbook"`
	Rule     string    `json:"rule"`
	Channel  string    `json:"channel"`
	At       time.Time `json:"at"`
	// State is the message's job state: pending, task_created (a WeCom
	// task waiting for the guide), done or sent (it reached the
	// customer), or why it did not (not_friend, skipped_received_other,
	// unsent, skipped, cancelled, dead).
	State  string `json:"state"`
	JobKey string `json:"job_key"`
}

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
		if JobState(state).Reached() {
			m.Contacts += c.N
		}
		m.Planned += c.N
		m.ByState[state] += c.N
	}
	return out, nil
}

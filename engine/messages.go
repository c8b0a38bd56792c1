package engine

import (
	"context"
	"time"
)

// MessageStateCount is how many messages of a rule on a channel are in a
// delivery state ("" for messages recorded before koi tracked outcomes).
type MessageStateCount struct {
	Playbook, Rule, Channel, State string
	N                              int
}

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

// MessageOutcomes counts a rule's messages by what became of them.
type MessageOutcomes struct {
	// Planned counts every message its fires planned.
	Planned int `json:"planned"`
	// Contacts counts those that reached the customer: delivered by a
	// channel that sends at once (done), or sent by the guide (a WeCom
	// task confirmed: sent). A WeCom task still waiting for its guide is
	// no contact.
	Contacts int `json:"contacts"`
	// ByState counts them by state; "pending" holds messages still in the
	// outbox, and "unknown" those recorded before koi tracked outcomes.
	ByState map[string]int `json:"by_state"`
}

func (m *MessageOutcomes) add(state string, n int) {
	if state == "" {
		state = "unknown"
	}
	if JobState(state).Reached() {
		m.Contacts += n
	}
	m.Planned += n
	m.ByState[state] += n
}

// messageOutcomes reads the message outcomes of the rules of a playbook
// (or all), by playbook and rule.
func (e *Engine) messageOutcomes(ctx context.Context, playbook string) (map[[2]string]*MessageOutcomes, error) {
	counts, err := e.store.MessageStates(ctx, playbook)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]*MessageOutcomes{}
	for _, c := range counts {
		k := [2]string{c.Playbook, c.Rule}
		m := out[k]
		if m == nil {
			m = &MessageOutcomes{ByState: map[string]int{}}
			out[k] = m
		}
		m.add(c.State, c.N)
	}
	return out, nil
}

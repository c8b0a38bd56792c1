package domain

import "time"

// Journey statuses (DESIGN §3b).
const (
	// JourneyEntered: the customer is in the journey, NextStep due at DueAt.
	JourneyEntered = "entered"
	// JourneyExited: exit_when held before the journey's last step.
	JourneyExited = "exited"
	// JourneyCompleted: every step came due.
	JourneyCompleted = "completed"
)

// JourneyState is where one customer is in one journey: their latest
// entry. A step fires at most once per (journey, customer, entry, step):
// its fire is keyed (playbook: the journey, rule: the step, seq: the
// entry), and the state moves past it in the fire's transaction, only
// from the step it was at (FireTx.AdvanceJourney).
type JourneyState struct {
	Journey    string `json:"journey"`
	CustomerID string `json:"customer_id"`
	// Entry numbers the customer's entries into the journey, from 1.
	Entry     int       `json:"entry"`
	EnteredAt time.Time `json:"entered_at"`
	// Hash is the version of the journey the customer entered.
	Hash string `json:"hash"`
	// NextStep is the id of the step due next, at DueAt; "" and the zero
	// time once the journey ended.
	NextStep string    `json:"next_step,omitempty"`
	DueAt    time.Time `json:"due_at,omitzero"`
	Status   string    `json:"status"`
	// Holdout is decided at entry: a held-out customer's steps are
	// recorded, not acted on.
	Holdout bool      `json:"holdout"`
	EndedAt time.Time `json:"ended_at,omitzero"`
}

// JourneyMove moves a customer's entry into a journey from the step it is
// at, From, to Next: its next step (NextStep, DueAt) or its end (Status
// exited or completed, EndedAt).
type JourneyMove struct {
	Journey    string
	CustomerID string
	Entry      int
	From       string
	Next       JourneyState
}

// DueCursor names a place in the order of due steps (due time, then
// customer): a pass reads the steps due after it. The zero value is the
// start.
type DueCursor struct {
	DueAt      time.Time
	CustomerID string
}

// CursorOf is the place of st in the order of due steps.
func CursorOf(st JourneyState) DueCursor {
	return DueCursor{DueAt: st.DueAt, CustomerID: st.CustomerID}
}

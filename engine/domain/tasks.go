package domain

import "time"

// TaskState is where a guide's follow-up task stands.
type TaskState string

// Task states.
const (
	TaskOpen TaskState = "open"
	TaskDone TaskState = "done"
)

// Task is a follow-up for a sales guide, created by assign_guide with its
// fire. Open tasks count towards the guide's load.
type Task struct {
	ID         int64     `json:"id"`
	Guide      string    `json:"guide"`
	CustomerID string    `json:"customer_id"`
	Note       string    `json:"note"`
	DueAt      time.Time `json:"due_at"`
	State      TaskState `json:"state"`
	FireID     int64     `json:"fire_id"`
	Playbook   string    `json:"playbook"`
	Rule       string    `json:"rule"`
	CreatedAt  time.Time `json:"created_at"`
	// DoneAt is when the guide completed it; zero while open.
	DoneAt time.Time `json:"done_at,omitzero"`
}

// NewTask is a task as the fire's transaction writes it.
type NewTask struct {
	// Key is the fire's key and the action's index: a re-run of the same
	// fire creates no second task.
	Key        string
	Guide      string
	CustomerID string
	FireID     int64
	Playbook   string
	Rule       string
	Note       string
	DueAt      time.Time
}

// TaskFilter selects a guide's tasks, in the order they were created.
type TaskFilter struct {
	Guide string
	// State is open, done, or empty for both.
	State TaskState
	Limit int
	// After pages: only tasks with a larger id.
	After int64
}
